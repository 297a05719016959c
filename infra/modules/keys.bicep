// Creates the app's key secrets in Key Vault if, and only if, they are missing.
//
// Why a deployment script: ARM has no "create if absent" for a secret. A Microsoft.KeyVault/vaults/secrets
// resource would write a new version on every redeploy (a newGuid() default changes each time), which would
// replace the keys and make every stored TOTP secret unreadable. The script (scripts/ensure-keys.sh) looks
// first and only ever creates: an existing secret is left as it is, a soft-deleted one is recovered. The
// key material is generated inside the script's container and written straight to Key Vault: it is never a
// template parameter, never in the deployment history, never in an output or the script log.
//
// Trade-off (docs/deploy.md): the deployment-script service runs the script in a container instance and
// creates its own short-lived storage account for it, which uses shared keys. That account is not the app's
// account (requirement I2 is about the account the app uses, which keeps shared keys off), holds only the
// script and its log, and is deleted when the script finishes (cleanupPreference Always). Where a policy
// denies shared-key storage accounts, deploy with createKeysInDeployment=false and run the same script once.
param vaultName string
param identityName string
param location string
param tags object

@description('Secrets to ensure: each holds "keyid:base64key" (32 random bytes).')
param secretNames array

@description('Changes on every deployment so the (idempotent) check runs each time.')
param runTag string = utcNow()

var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: vaultName
}

// A separate identity: the app's own identity can only read secrets (Key Vault Secrets User).
resource scriptIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
  tags: tags
}

resource scriptSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, scriptIdentity.id, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: scriptIdentity.properties.principalId
    principalType: 'ServicePrincipal'
    description: 'twostep: create the app key secrets when missing (infra/scripts/ensure-keys.sh)'
  }
}

resource ensureKeys 'Microsoft.Resources/deploymentScripts@2023-08-01' = {
  name: 'ensure-app-keys'
  location: location
  tags: tags
  kind: 'AzureCLI'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${scriptIdentity.id}': {}
    }
  }
  properties: {
    azCliVersion: '2.63.0'
    scriptContent: loadTextContent('../scripts/ensure-keys.sh')
    environmentVariables: [
      {
        name: 'VAULT_NAME'
        value: vault.name
      }
      {
        name: 'SECRET_NAMES'
        value: join(secretNames, ' ')
      }
    ]
    timeout: 'PT20M'
    retentionInterval: 'PT1H'
    cleanupPreference: 'Always'
    forceUpdateTag: runTag
  }
  dependsOn: [
    scriptSecretsOfficer
  ]
}
