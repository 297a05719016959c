// The app's storage account: host storage (AzureWebJobsStorage), the deployment package container, the
// state table and the queues. Shared keys are off, so every caller (the Functions host, the app, the
// deployment) authenticates with Entra ID; nothing in this template lists or outputs a key.
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
@description('Redundancy (main.bicep storageSku): the table holds the only copy of every enrolment.')
param sku string

@description('The state table (MFA_TABLE_NAME).')
param tableName string

@description('Queues the app uses: the SMS outbox, the security events queue, the due sweep queue and their poison queues.')
param queueNames array

@description('Blob container Flex Consumption deploys the app package to.')
param deploymentContainerName string

@description('Log Analytics workspace for the table and queue logs.')
param workspaceId string

// Every read, write and delete on the state table and the queues, with the caller's identity.
var storageLogs = [
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

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35:Flex Consumption without VNet integration reaches host storage over the public endpoint; a default-deny firewall would cut the Functions host off. Access is Entra ID only (allowSharedKeyAccess false) with data-plane RBAC.
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

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storageAccount
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storageAccount
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in queueNames: {
  parent: queueService
  name: queueName
}]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storageAccount
  name: 'default'
}

resource tableLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'table-to-log-analytics'
  scope: tableService
  properties: {
    workspaceId: workspaceId
    logs: storageLogs
  }
}

resource queueLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'queue-to-log-analytics'
  scope: queueService
  properties: {
    workspaceId: workspaceId
    logs: storageLogs
  }
}

resource stateTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: tableName
}

output name string = storageAccount.name
output id string = storageAccount.id
