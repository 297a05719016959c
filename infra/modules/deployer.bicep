// The deploying identity (azd's AZURE_PRINCIPAL_ID) may create the app's key secrets: the azd postprovision
// hook (infra/scripts/ensure-keys.sh) runs as that identity, never as a standing service identity. The role
// is on this one vault only; the app's own identity only reads secrets (roles.bicep).
param principalId string

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string
param keyVaultName string

var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource deployerSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: principalId
    principalType: principalType
    description: 'twostep: the deploying identity creates the app key secrets when missing (infra/scripts/ensure-keys.sh, azd postprovision)'
  }
}
