// Azure Communication Services for SMS. Local (access-key) authentication is off: the app sends with its
// managed identity, which holds a role scoped to this resource only (roles.bicep). The sender number is
// acquired on this resource after deployment (phone numbers cannot be bought through ARM); its value is the
// ACS_SENDER parameter.
param name string
param tags object

@description('Where the resource stores data at rest.')
param dataLocation string

@description('Log Analytics workspace for the SMS operational log.')
param workspaceId string

resource communication 'Microsoft.Communication/communicationServices@2025-05-01' = {
  name: name
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    disableLocalAuth: true
  }
}

// Every SMS request and delivery report (who was sent what, when, with which result) to Log Analytics.
resource smsLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'sms-to-log-analytics'
  scope: communication
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'SMSOperational'
        enabled: true
      }
    ]
  }
}

output name string = communication.name
output id string = communication.id
output endpoint string = 'https://${communication.properties.hostName}'
