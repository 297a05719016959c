// A further storage account for the state table, when one account's throughput is not enough (main.bicep
// tableAccountCount; docs/scale.md "Several storage accounts"). It holds only the table: users are spread
// over the accounts by a hash of their id, and the bookkeeping, queues and host storage stay in the first.
// The same hardening as the first account (shared keys off, Entra ID only) and the same table logs; the
// app's identity gets Storage Table Data Contributor on this account's state table only.
param name string
param location string
param tags object

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
@description('Redundancy (main.bicep storageSku, the same as the first account\'s).')
param sku string

@description('The state table (MFA_TABLE_NAME): the same name in every account.')
param tableName string

@description('Log Analytics workspace for the table logs.')
param workspaceId string

@description('The app\'s managed identity: Storage Table Data Contributor on this account\'s state table.')
param principalId string

var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:Flex Consumption without VNet integration reaches Storage over the public endpoint; a default-deny firewall would cut the app off. Access is Entra ID only (allowSharedKeyAccess false) with data-plane RBAC.
  // checkov:skip=CKV_AZURE_59:Same reason as CKV_AZURE_35: public network access is needed without VNet integration; shared keys are disabled so only RBAC-authorised identities get in.
  // checkov:skip=CKV_AZURE_206:The redundancy is the storageSku parameter (LRS by default because zone-redundant storage is not offered in every Flex Consumption region; ZRS/GZRS for production where offered, docs/deploy.md); checkov cannot evaluate a parameter.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: sku
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storageAccount
  name: 'default'
}

resource tableLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'table-to-log-analytics'
  scope: tableService
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'StorageRead'
        enabled: true
      }
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

resource stateTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: tableName
}

// The state table, and only it, as in roles.bicep for the first account.
resource tableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(stateTable.id, principalId, storageTableDataContributor)
  scope: stateTable
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output name string = storageAccount.name
