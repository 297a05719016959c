// The Function App's user-assigned managed identity. Everything the app reaches in Azure (Storage, Key Vault
// references, Communication Services, Application Insights) it reaches as this identity, with the data-plane
// roles granted in roles.bicep; no key or connection string is involved.
param name string
param location string
param tags object

resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output name string = appIdentity.name
output id string = appIdentity.id
output clientId string = appIdentity.properties.clientId
output principalId string = appIdentity.properties.principalId
