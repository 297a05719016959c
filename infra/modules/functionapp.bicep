// The Function App on the Flex Consumption plan: Python 3.12, code package in a blob container read with
// the app's managed identity, every app setting the code reads (tests/infra/test_consistency.py proves it),
// and App Service authentication for the admin routes.
param name string
param planName string
param location string
param tags object

@description('The app\'s user-assigned identity (identity.bicep).')
param identityName string
param storageAccountName string
param deploymentContainerName string
param appInsightsName string
param keyVaultName string
param hmacKeysSecretName string
param encryptionKeysSecretName string
@description('https://<host> of the Communication Services resource SMS are sent through (ACS_ENDPOINT).')
param acsEndpoint string

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('The app settings main.bicep derives from its parameters (MFA_*, ACS_SENDER), name -> value: written once there, passed as one object, merged here with the settings computed from resources.')
param appSettings object

@description('Key Vault secret holding MFA_WEBHOOK_SECRET (whsec_ and base64), created by infra/scripts/ensure-keys.sh.')
param webhookSecretName string

@description('Entra ID app registration (client ID) for admin routes; empty = platform authentication off.')
param adminAuthClientId string

var pythonVersion = '3.12'
var adminAuthEnabled = !empty(adminAuthClientId)

resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: identityName
}

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// The settings that come from resources, not parameters. Secrets are Key Vault references resolved by the
// platform as keyVaultReferenceIdentity; Storage, ACS and telemetry use the managed identity.
var resourceSettings = {
  AzureWebJobsStorage__blobServiceUri: storageAccount.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storageAccount.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storageAccount.properties.primaryEndpoints.table
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: appIdentity.properties.clientId
  AZURE_CLIENT_ID: appIdentity.properties.clientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${appIdentity.properties.clientId};Authorization=AAD'
  MFA_HMAC_KEYS: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${hmacKeysSecretName}/)'
  MFA_ENCRYPTION_KEYS: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${encryptionKeysSecretName}/)'
  MFA_WEBHOOK_SECRET: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${webhookSecretName}/)'
  // With Entra protection configured the app refuses admin calls unless the platform's authentication is
  // really active (WEBSITE_AUTH_ENABLED): fail closed rather than fall back to the master key alone.
  MFA_ADMIN_ENTRA_REQUIRED: adminAuthEnabled ? 'true' : 'false'
  ACS_ENDPOINT: acsEndpoint
}
// resourceSettings last: a parameter cannot override an identity or Key Vault setting.
var allSettings = union(appSettings, resourceSettings)

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225:Zone redundancy for Flex Consumption is only offered in some regions, so it cannot be the default; where it is, add zoneRedundant: true to the plan's properties (and use zone-redundant storage, docs/deploy.md).
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17:Applications authenticate with function keys (README.md, API); requiring client certificates would break every caller. Admin routes add Entra ID through App Service authentication.
  // checkov:skip=CKV_AZURE_222:Applications call the service over the internet with function keys; disabling public network access needs a private network the operator brings (docs/deploy.md).
  // checkov:skip=CKV_AZURE_212:Flex Consumption scales each function out from zero on demand (maximumInstanceCount); there is no fixed worker count (numberOfWorkers) to raise for failover.
  // checkov:skip=CKV_AZURE_213:App Service health check (healthCheckPath) is for fixed-instance plans; on Flex Consumption the platform replaces unhealthy instances. GET /api/health answers external probes.
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${appIdentity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientAffinityEnabled: false
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: appIdentity.id
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      remoteDebuggingEnabled: false
      http20Enabled: true
      // Every app setting (resourceSettings and the parameters' appSettings), replaced as a whole on each deployment.
      appSettings: [for setting in items(allSettings): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageAccount.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: appIdentity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// Admin routes (README.md, "Admin"): auth level ADMIN (master key) always; with adminAuthClientId set, App Service
// authentication validates Entra ID tokens for api://<client id>, strips any client-sent X-MS-CLIENT-PRINCIPAL
// headers and injects the caller's principal; the platform sets WEBSITE_AUTH_ENABLED=true and the app then
// requires the MFA_ADMIN_ROLE app role on admin routes (MFA_ADMIN_ENTRA_REQUIRED makes it refuse them if the
// platform does not). Anonymous requests are allowed through because applications authenticate with function
// keys, which the Functions host checks. With adminAuthClientId empty the resource only switches platform
// authentication off: no provider with an empty client id, no half-filled settings (and turning Entra off
// later really turns it off, which leaving the resource out would not).
// checkov treats every Microsoft.Web/sites/config resource as the site's 'web' config; most skips below are
// checks that read properties that only exist there (or on the site), so they cannot pass on authsettingsV2.
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13:Checks the legacy v1 'authsettings' (properties.enabled); this is the v2 resource, switched by platform.enabled.
  // checkov:skip=CKV_AZURE_56:Platform authentication is on exactly when adminAuthClientId is set (a conditional properties object, which checkov cannot evaluate); applications authenticate with function keys, so it cannot be on unconditionally. tests/infra/test_bicep.py (check_admin_auth) asserts both branches.
  // checkov:skip=CKV_AZURE_63:HTTP logging is a 'web' config property (file-system logs, not on Flex Consumption); requests are logged to Application Insights.
  // checkov:skip=CKV_AZURE_65:Detailed error logging is a 'web' config property (file-system logs, not on Flex Consumption); errors go to Application Insights.
  // checkov:skip=CKV_AZURE_66:Failed request tracing is a 'web' config property (file-system logs, not on Flex Consumption); failures go to Application Insights.
  // checkov:skip=CKV_AZURE_80:.NET Framework version does not apply: Python app, and not a property of authsettingsV2.
  // checkov:skip=CKV_AZURE_88:Azure Files mounts are a 'web' config property; the app keeps no files (state is in Table Storage).
  // checkov:skip=CKV_AZURE_222:publicNetworkAccess is a site property (skipped there with its reason), not an authsettingsV2 property.
  parent: site
  name: 'authsettingsV2'
  properties: adminAuthEnabled ? {
    platform: {
      enabled: true
      runtimeVersion: '~1'
    }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: adminAuthClientId
          openIdIssuer: 'https://sts.windows.net/${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${adminAuthClientId}'
            adminAuthClientId
          ]
        }
        login: {
          disableWWWAuthenticate: false
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
    httpSettings: {
      requireHttps: true
      forwardProxy: {
        convention: 'NoProxy'
      }
    }
  } : {
    platform: {
      enabled: false
    }
  }
}

// Basic (user name + password) publishing credentials off for both endpoints: deployments authenticate with
// Entra ID (azd / az use the signed-in identity), so no long-lived password can publish code to the app.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output url string = 'https://${site.properties.defaultHostName}'
