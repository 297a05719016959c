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
param communicationName string

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

// App settings (see main.bicep for their meaning and bounds).
param otpHost string
param totpIssuer string
param tableName string
@description('MFA_SMS_QUEUE: the SMS outbox queue (its poison queue is this name plus -poison).')
param smsQueueName string
@description('MFA_EVENTS_QUEUE: the security events queue (its poison queue is this name plus -poison).')
param eventsQueueName string
@description('MFA_DUE_QUEUE: the due sweep\'s queue (its poison queue is this name plus -poison).')
param dueQueueName string
@description('MFA_WEBHOOK_URL: where security events are POSTed; empty = nowhere.')
param webhookUrl string
@description('Key Vault secret holding MFA_WEBHOOK_SECRET (whsec_ and base64), created by infra/scripts/ensure-keys.sh.')
param webhookSecretName string
param codeTtlSeconds int
param codeDigits int
param maxAttempts int
param lockoutThreshold int
param lockoutResetMinutes int
param lockoutMinutes int
param bypassDefaultSeconds int
param bypassMaxSeconds int
param fraudBlockDays int
param totpAlgorithm string
param totpDigits int
param auditRetentionDays int
param smsPerUserPerHour int
param smsPerPhonePerHour int
param smsPerIpPerHour int
param smsPerPrefixPerHour int
param smsDailyBudget int
param smsAllowedCountries string
param adminRole string
param acsSender string

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

resource communication 'Microsoft.Communication/communicationServices@2025-05-01' existing = {
  name: communicationName
}

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
  // checkov:skip=CKV_AZURE_17:Applications authenticate with function keys (DESIGN.md); requiring client certificates would break every caller. Admin routes add Entra ID through App Service authentication.
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
      // Every app setting, replaced as a whole on each deployment. Secrets are Key Vault references resolved
      // by the platform as keyVaultReferenceIdentity; Storage, ACS and telemetry use the managed identity.
      appSettings: [
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: storageAccount.properties.primaryEndpoints.blob
        }
        {
          name: 'AzureWebJobsStorage__queueServiceUri'
          value: storageAccount.properties.primaryEndpoints.queue
        }
        {
          name: 'AzureWebJobsStorage__tableServiceUri'
          value: storageAccount.properties.primaryEndpoints.table
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: appIdentity.properties.clientId
        }
        {
          name: 'AZURE_CLIENT_ID'
          value: appIdentity.properties.clientId
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${appIdentity.properties.clientId};Authorization=AAD'
        }
        {
          name: 'MFA_HMAC_KEYS'
          value: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${hmacKeysSecretName}/)'
        }
        {
          name: 'MFA_ENCRYPTION_KEYS'
          value: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${encryptionKeysSecretName}/)'
        }
        {
          name: 'MFA_OTP_HOST'
          value: otpHost
        }
        {
          name: 'MFA_TOTP_ISSUER'
          value: totpIssuer
        }
        {
          name: 'MFA_TABLE_NAME'
          value: tableName
        }
        {
          name: 'MFA_SMS_QUEUE'
          value: smsQueueName
        }
        {
          name: 'MFA_EVENTS_QUEUE'
          value: eventsQueueName
        }
        {
          name: 'MFA_DUE_QUEUE'
          value: dueQueueName
        }
        {
          name: 'MFA_WEBHOOK_URL'
          value: webhookUrl
        }
        {
          name: 'MFA_WEBHOOK_SECRET'
          value: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${webhookSecretName}/)'
        }
        {
          name: 'MFA_CODE_TTL_SECONDS'
          value: string(codeTtlSeconds)
        }
        {
          name: 'MFA_CODE_DIGITS'
          value: string(codeDigits)
        }
        {
          name: 'MFA_MAX_ATTEMPTS'
          value: string(maxAttempts)
        }
        {
          name: 'MFA_LOCKOUT_THRESHOLD'
          value: string(lockoutThreshold)
        }
        {
          name: 'MFA_LOCKOUT_RESET_MINUTES'
          value: string(lockoutResetMinutes)
        }
        {
          name: 'MFA_LOCKOUT_MINUTES'
          value: string(lockoutMinutes)
        }
        {
          name: 'MFA_BYPASS_DEFAULT_SECONDS'
          // The app refuses a default above the maximum; cap it here so a deployment cannot produce that.
          value: string(min(bypassDefaultSeconds, bypassMaxSeconds))
        }
        {
          name: 'MFA_BYPASS_MAX_SECONDS'
          value: string(bypassMaxSeconds)
        }
        {
          name: 'MFA_FRAUD_BLOCK_DAYS'
          value: string(fraudBlockDays)
        }
        {
          name: 'MFA_TOTP_ALGORITHM'
          value: totpAlgorithm
        }
        {
          name: 'MFA_TOTP_DIGITS'
          value: string(totpDigits)
        }
        {
          name: 'MFA_AUDIT_RETENTION_DAYS'
          value: string(auditRetentionDays)
        }
        {
          name: 'MFA_SMS_PER_USER_PER_HOUR'
          value: string(smsPerUserPerHour)
        }
        {
          name: 'MFA_SMS_PER_PHONE_PER_HOUR'
          value: string(smsPerPhonePerHour)
        }
        {
          name: 'MFA_SMS_PER_IP_PER_HOUR'
          value: string(smsPerIpPerHour)
        }
        {
          name: 'MFA_SMS_PER_PREFIX_PER_HOUR'
          value: string(smsPerPrefixPerHour)
        }
        {
          name: 'MFA_SMS_DAILY_BUDGET'
          value: string(smsDailyBudget)
        }
        {
          name: 'MFA_SMS_ALLOWED_COUNTRIES'
          value: smsAllowedCountries
        }
        {
          name: 'MFA_ADMIN_ROLE'
          value: adminRole
        }
        {
          // With Entra protection configured the app refuses admin calls unless the platform's authentication
          // is really active (WEBSITE_AUTH_ENABLED): fail closed rather than fall back to the master key alone.
          name: 'MFA_ADMIN_ENTRA_REQUIRED'
          value: adminAuthEnabled ? 'true' : 'false'
        }
        {
          name: 'ACS_ENDPOINT'
          value: 'https://${communication.properties.hostName}'
        }
        {
          name: 'ACS_SENDER'
          value: acsSender
        }
      ]
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

// Admin routes (DESIGN.md): auth level ADMIN (master key) always; with adminAuthClientId set, App Service
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
