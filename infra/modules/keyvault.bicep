// Key Vault for the app's HMAC and encryption keys. RBAC only (no access policies), soft delete and purge
// protection on: a deleted secret or vault can be recovered for 90 days and nobody can purge it early, so
// an accident cannot make the stored TOTP secrets unreadable. Every data-plane access is audited to Log
// Analytics. The secrets themselves are created by the azd postprovision hook (infra/scripts/ensure-keys.sh,
// only when missing, as the deploying identity), never from a template value. The vault name carries a
// generation number (main.bicep keyVaultGeneration): after `azd down` the deleted vault keeps its old name.
param name string
param location string
param tags object

@description('Log Analytics workspace for the vault\'s audit log.')
param workspaceId string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109:No VNet in this deployment: Key Vault references from a Flex Consumption app without VNet integration, and the deploying user's key hook, reach the vault over its public endpoint. Access is Entra ID + RBAC only and audited.
  // checkov:skip=CKV_AZURE_189:Same reason as CKV_AZURE_109: public network access is required without VNet integration.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource vaultAudit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

output name string = vault.name
output id string = vault.id
output vaultUri string = vault.properties.vaultUri
