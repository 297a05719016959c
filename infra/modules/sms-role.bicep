// The app's right to send SMS, on the one Communication Services resource it sends through: the one
// communication.bicep creates, or an existing one kept outside the environment (main.bicep
// existingCommunicationServicesId), so this module is deployed to that resource's group.
//
// The role is the built-in "Communication and Email Service Owner": ACS documents no narrower built-in role,
// and no data action for sending SMS that a custom role could hold, for a caller that authenticates with
// Entra ID. What it allows beyond sending, on this resource only: read and change the resource's settings,
// list and regenerate its access keys (useless while disableLocalAuth is true, and with an existing resource
// the operator should keep local auth off there too), manage its phone numbers, and the same on Email
// Communication Services resources in scope (none here). It grants nothing on any other resource
// (docs/deploy.md, Roles).
param principalId string
param communicationName string

var communicationAndEmailServiceOwner = '09976791-48a7-449e-bb21-39d1a415f350'

resource communication 'Microsoft.Communication/communicationServices@2025-05-01' existing = {
  name: communicationName
}

resource communicationSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(communication.id, principalId, communicationAndEmailServiceOwner)
  scope: communication
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', communicationAndEmailServiceOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'twostep: the Function App sends SMS with its managed identity (Entra ID); no narrower role exists'
  }
}

output communicationId string = communication.id
output endpoint string = 'https://${communication.properties.hostName}'
