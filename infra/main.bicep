// twostep: everything the Function App needs, in one resource group.
//
//   azd up                                   (infra/main.parameters.json: azd fills ${AZURE_ENV_NAME}, ...)
//   az deployment sub create -l <region> -f infra/main.bicep -p infra/main.azcli.parameters.json \
//     -p environmentName=<name> principalId=$(az ad signed-in-user show --query id -o tsv)
//
// Written for the offline checks in tests/infra (pycep-parser and checkov read it): no registry modules,
// child resources declared top-level with `parent:`, no user-defined types, no spread, no filtered loops.
// docs/deploy.md explains every parameter, what gets created, and how to operate it.
targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------------------
// Where and what

@minLength(1)
@maxLength(32)
@description('Name of this instance (azd: the environment name, AZURE_ENV_NAME); the resource group (rg-<name>) and every resource name derive from it, so two environments in one subscription never share a resource. Letters, digits and hyphens.')
param environmentName string = 'twostep'

// The regions that offer Flex Consumption (az functionapp list-flexconsumption-locations -o tsv). A region
// outside this list fails at validation, before anything is created; add one here when Azure adds it.
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'japanwest'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'switzerlandnorth'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
@description('Region for every regional resource; only regions that offer Flex Consumption are allowed (azd: AZURE_LOCATION). Defaults to the deployment location (-l).')
param location string = deployment().location

@maxLength(36)
@description('Object id of the identity that deploys (azd: AZURE_PRINCIPAL_ID, the signed-in user). It gets Key Vault Secrets Officer on the vault so that the postprovision hook (infra/scripts/ensure-keys.sh) can create the app keys as that identity. Empty: no role; run the hook as someone who holds the role.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
@description('What principalId is: User for a person, ServicePrincipal for a pipeline (azd: AZURE_PRINCIPAL_TYPE).')
param principalType string = 'User'

@minValue(1)
@maxValue(99)
@description('Key Vault generation: part of the vault name. After `azd down` the purge-protected vault keeps its name for 90 days; raise this by one to re-provision the environment at once (docs/deploy.md). Never change it on a running environment: a new vault means new keys.')
param keyVaultGeneration int = 1

@maxLength(90)
@description('Resource group to create or reuse; empty = rg-<environmentName>.')
param resourceGroupName string = ''

// ---------------------------------------------------------------------------------------------------------
// Application settings (shared/config.py reads each; the bounds below are the code's bounds)

@minLength(1)
@maxLength(253)
@description('MFA_OTP_HOST: bare host name that SMS codes are bound to (last line "@<host> #<code>"), e.g. login.contoso.com. Required.')
param otpHost string

@minLength(1)
@maxLength(64)
@description('MFA_TOTP_ISSUER: issuer shown in authenticator apps (no ":").')
param totpIssuer string = 'twostep'

@minLength(3)
@maxLength(63)
@description('MFA_TABLE_NAME: the one Table Storage table the app keeps its state in (letters and digits, starting with a letter).')
param tableName string = 'twostep'

@minValue(60)
@maxValue(600)
@description('MFA_CODE_TTL_SECONDS: SMS code lifetime.')
param codeTtlSeconds int = 300

@minValue(6)
@maxValue(8)
@description('MFA_CODE_DIGITS: SMS code length.')
param codeDigits int = 6

@minValue(1)
@maxValue(10)
@description('MFA_MAX_ATTEMPTS: verify attempts per challenge.')
param maxAttempts int = 5

@minValue(1)
@maxValue(100)
@description('MFA_LOCKOUT_THRESHOLD: failures per user (across challenges) before a lockout.')
param lockoutThreshold int = 10

@minValue(1)
@maxValue(1440)
@description('MFA_LOCKOUT_RESET_MINUTES: window after which the failure count starts again.')
param lockoutResetMinutes int = 15

@minValue(1)
@maxValue(1440)
@description('MFA_LOCKOUT_MINUTES: how long a lockout lasts.')
param lockoutMinutes int = 15

@minValue(1)
@maxValue(3600)
@description('MFA_BYPASS_DEFAULT_SECONDS: bypass lifetime when the admin gives none (capped at bypassMaxSeconds).')
param bypassDefaultSeconds int = 300

@minValue(1)
@maxValue(3600)
@description('MFA_BYPASS_MAX_SECONDS: longest bypass an admin may grant.')
param bypassMaxSeconds int = 1800

@minValue(1)
@maxValue(3650)
@description('MFA_FRAUD_BLOCK_DAYS: how long a "not me" fraud report blocks the user.')
param fraudBlockDays int = 90

@allowed([
  'SHA1'
  'SHA256'
  'SHA512'
])
@description('MFA_TOTP_ALGORITHM for new enrolments (most authenticator apps only do SHA1).')
param totpAlgorithm string = 'SHA1'

@allowed([
  6
  8
])
@description('MFA_TOTP_DIGITS for new enrolments.')
param totpDigits int = 6

@minValue(1)
@maxValue(3650)
@description('MFA_AUDIT_RETENTION_DAYS: audit rows older than this are purged by the hourly timer.')
param auditRetentionDays int = 90

@minValue(1)
@maxValue(100)
@description('MFA_SMS_PER_USER_PER_HOUR: SMS one user may be sent per clock hour.')
param smsPerUserPerHour int = 10

@minValue(1)
@maxValue(100)
@description('MFA_SMS_PER_PHONE_PER_HOUR: SMS one phone number may be sent per clock hour, across users.')
param smsPerPhonePerHour int = 10

@minValue(1)
@maxValue(10000)
@description('MFA_SMS_PER_IP_PER_HOUR: SMS per hour for one source IP (IPv6: per /64) asserted in context.ip.')
param smsPerIpPerHour int = 50

@minValue(1)
@maxValue(100000)
@description('MFA_SMS_PER_PREFIX_PER_HOUR: SMS per hour to one number prefix (country code + 3 digits).')
param smsPerPrefixPerHour int = 200

@minValue(1)
@maxValue(10000000)
@description('MFA_SMS_DAILY_BUDGET: SMS the whole service may send per UTC day.')
param smsDailyBudget int = 10000

@minValue(1)
@maxValue(1024)
@description('MFA_SMS_LIMIT_SHARDS: shard rows the daily budget and each prefix limit are split over (docs/scale.md).')
param smsLimitShards int = 256

@minValue(1)
@maxValue(64)
@description('MFA_SMS_LIMIT_LANES: partitions the day\'s SMS counters are spread over; 1 = one partition (~200-285 SMS/s), 8 for 1,000 SMS/s; at most smsLimitShards (docs/scale.md).')
param smsLimitLanes int = 1

@minLength(1)
@maxLength(1000)
@description('MFA_SMS_ALLOWED_COUNTRIES: * for every country, or ISO 3166 region codes such as US,CA,GB.')
param smsAllowedCountries string = '*'

@minLength(1)
@maxLength(120)
@description('MFA_ADMIN_ROLE: app role (value) the Entra ID principal must hold to use /api/v1/admin routes when adminAuthClientId is set.')
param adminRole string = 'Twostep.Admin'

@allowed([
  'azure'
  'off'
])
@description('MFA_TELEMETRY: azure = the app exports its traces, decision logs and twostep.* metrics to this deployment\'s Application Insights through OpenTelemetry (statsbeat off); off = only what the Functions host records itself (the alerts still work).')
param telemetry string = 'azure'

@maxLength(2000)
@description('MFA_WEBHOOK_URL: https URL that every security event (CloudEvents JSON, signed per Standard Webhooks with the Key Vault secret mfa-webhook-secret) is POSTed to. Empty: events are taken off the events queue and dropped after logging.')
param webhookUrl string = ''

@maxLength(253)
@description('MFA_WEBAUTHN_RP_ID: the passkeys\' relying party id, the host name (or a parent domain of it) of the pages that call WebAuthn, e.g. login.contoso.com. Empty: passkeys are off.')
param webauthnRpId string = ''

@maxLength(64)
@description('MFA_WEBAUTHN_RP_NAME: the name authenticators show for passkeys. Empty: twostep.')
param webauthnRpName string = ''

@maxLength(2000)
@description('MFA_WEBAUTHN_ORIGINS: comma-separated https origins of the pages that call WebAuthn, matched exactly (no path, no trailing slash). Empty with an rp id: https://<rp id>.')
param webauthnOrigins string = ''

// ---------------------------------------------------------------------------------------------------------
// SMS (Azure Communication Services)

@minLength(1)
@maxLength(64)
@description('ACS_SENDER: the E.164 phone number (or approved alphanumeric sender ID) that SMS go out from. It must be acquired on the Communication Services resource the app sends through (the one this template creates, or existingCommunicationServicesId; docs/deploy.md). Required.')
param acsSender string

@allowed([
  'Africa'
  'Asia Pacific'
  'Australia'
  'Brazil'
  'Canada'
  'Europe'
  'France'
  'Germany'
  'India'
  'Japan'
  'Korea'
  'Norway'
  'Switzerland'
  'UAE'
  'UK'
  'United States'
])
@description('Where the Communication Services resource this template creates keeps its data at rest (ignored with existingCommunicationServicesId).')
param acsDataLocation string = 'United States'

@maxLength(300)
@description('Resource id of an existing Communication Services resource to send from (/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Communication/communicationServices/<name>), kept outside this environment so that its bought, verified sender number survives `azd down`. Empty: the template creates one in the environment\'s resource group, deleted with it. The app\'s identity gets its SMS role on that resource (the deploying identity needs the right to assign roles there).')
param existingCommunicationServicesId string = ''

// ---------------------------------------------------------------------------------------------------------
// Admin routes: platform Entra ID authentication (App Service authentication, "Easy Auth")

@minLength(0)
@maxLength(36)
@description('Client (application) ID of the Entra ID app registration that defines the admin app role. Empty: admin routes are protected by the host master key only. Set: every admin call also needs a token for api://<this id> from a principal holding adminRole (docs/deploy.md).')
param adminAuthClientId string = ''

// ---------------------------------------------------------------------------------------------------------
// Scale, keys, alerts

@minValue(40)
@maxValue(1000)
@description('Flex Consumption: most instances the app may scale out to.')
param maximumInstanceCount int = 40

@allowed([
  512
  2048
  4096
])
@description('Flex Consumption: memory per instance (MB).')
param instanceMemoryMB int = 2048

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
@description('Redundancy of the storage account that holds the only copy of every enrolment (the state table) and the queues. Standard_LRS: 3 copies in one datacenter. Production: Standard_ZRS (3 zones) or Standard_GZRS (3 zones + a paired region) where the region offers them (docs/deploy.md).')
param storageSku string = 'Standard_LRS'

@description('MFA_TABLE_ACCOUNTS: how many storage accounts hold the state table. Users are spread over them by a hash of their id (bookkeeping stays in the first); raise it when one account\'s 20,000 transactions per second are not enough, then run the rebalancing job (docs/scale.md, docs/operations.md). Account i (from 1) is named after the first one plus t<i>, with the same roles for the app.')
@minValue(1)
@maxValue(32)
param tableAccountCount int = 1

@description('MFA_TABLE_ACCOUNTS_PREVIOUS: the account count before a change of tableAccountCount, while the rebalancing job moves users; 0 (the default) once it is done.')
@minValue(0)
@maxValue(32)
param tableAccountsPrevious int = 0

@description('Give the deploying identity (principalId) Key Vault Secrets Officer on the vault so that the postprovision hook can create the missing keys. The hook removes that assignment again once the keys exist (unless KEEP_DEPLOYER_ACCESS=true); false: never granted (run the hook as an identity that already holds the role).')
param grantDeployerKeyAccess bool = true

@maxLength(254)
@description('E-mail address for alerts; empty = alerts fire into an action group without receivers (add one later).')
param alertEmail string = ''

@minValue(1)
@maxValue(10000000)
@description('SMS volume alert: fire when more SMS than this are sent successfully within one hour.')
param smsAlertThresholdPerHour int = 500

@minValue(1)
@maxValue(100000)
@description('Failure alert: fire when more failed executions (exceptions, 5xx) than this occur within 15 minutes.')
param failureAlertThreshold int = 5

// ---------------------------------------------------------------------------------------------------------
// Names

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'twostep'
}
var rgName = empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
// The Communication Services resource: created here, or an existing one named by its resource id
// (/subscriptions/<sub>/resourceGroups/<group>/providers/Microsoft.Communication/communicationServices/<name>).
var useExistingAcs = !empty(existingCommunicationServicesId)
var acsIdParts = split(existingCommunicationServicesId, '/')
var acsSubscriptionId = useExistingAcs ? acsIdParts[2] : subscription().subscriptionId
var acsResourceGroupName = useExistingAcs ? acsIdParts[4] : rgName
var acsName = useExistingAcs ? last(acsIdParts) : 'acs-${environmentName}-${resourceToken}' // as communication.bicep names it
var functionAppName = 'func-${environmentName}-${resourceToken}'
var deploymentContainerName = 'app-package-${take(resourceToken, 7)}'

// The queues the code uses (shared/config.py SMS_QUEUE, SMS_POISON_QUEUE; functions/sms_sender.py triggers).
// MFA_SMS_QUEUE names the outbox for the app; the poison queue is always '<outbox>-poison'.
var smsQueueName = 'sms-outbox'
// Security events (shared/config.py EVENTS_QUEUE; functions/events.py trigger); '<events>-poison' parks
// the ones the webhook kept refusing.
var eventsQueueName = 'events'
// The due sweep's chain (shared/config.py DUE_QUEUE; functions/maintenance.py trigger): delayed messages that
// exist only while an SMS or an event is still due, so an idle app runs nothing.
var dueQueueName = 'due-sweep'
var queueNames = [
  smsQueueName
  '${smsQueueName}-poison'
  eventsQueueName
  '${eventsQueueName}-poison'
  dueQueueName
  '${dueQueueName}-poison'
]

// Key Vault secret names; app settings MFA_HMAC_KEYS and MFA_ENCRYPTION_KEYS reference them.
var hmacKeysSecretName = 'mfa-hmac-keys'
var encryptionKeysSecretName = 'mfa-encryption-keys'
// MFA_WEBHOOK_SECRET references it; created by the same hook, as whsec_<base64>.
var webhookSecretName = 'mfa-webhook-secret'

// Every app setting that comes from a parameter, once (shared/config.py reads each): the Function App module
// adds the ones computed from resources (endpoints, identity, Key Vault references).
var appSettings = {
  MFA_OTP_HOST: otpHost
  MFA_TOTP_ISSUER: totpIssuer
  MFA_TABLE_NAME: tableName
  MFA_TABLE_ACCOUNTS: string(tableAccountCount)
  MFA_TABLE_ACCOUNTS_PREVIOUS: string(tableAccountsPrevious)
  MFA_SMS_QUEUE: smsQueueName
  MFA_EVENTS_QUEUE: eventsQueueName
  MFA_DUE_QUEUE: dueQueueName
  MFA_WEBHOOK_URL: webhookUrl
  MFA_WEBAUTHN_RP_ID: webauthnRpId
  MFA_WEBAUTHN_RP_NAME: webauthnRpName
  // Passkeys are off without an rp id; with one, the origin defaults to its own https URL.
  MFA_WEBAUTHN_ORIGINS: empty(webauthnOrigins) ? (empty(webauthnRpId) ? '' : 'https://${webauthnRpId}') : webauthnOrigins
  MFA_CODE_TTL_SECONDS: string(codeTtlSeconds)
  MFA_CODE_DIGITS: string(codeDigits)
  MFA_MAX_ATTEMPTS: string(maxAttempts)
  MFA_LOCKOUT_THRESHOLD: string(lockoutThreshold)
  MFA_LOCKOUT_RESET_MINUTES: string(lockoutResetMinutes)
  MFA_LOCKOUT_MINUTES: string(lockoutMinutes)
  // The app refuses a default above the maximum; cap it here so a deployment cannot produce that.
  MFA_BYPASS_DEFAULT_SECONDS: string(min(bypassDefaultSeconds, bypassMaxSeconds))
  MFA_BYPASS_MAX_SECONDS: string(bypassMaxSeconds)
  MFA_FRAUD_BLOCK_DAYS: string(fraudBlockDays)
  MFA_TOTP_ALGORITHM: totpAlgorithm
  MFA_TOTP_DIGITS: string(totpDigits)
  MFA_AUDIT_RETENTION_DAYS: string(auditRetentionDays)
  MFA_SMS_PER_USER_PER_HOUR: string(smsPerUserPerHour)
  MFA_SMS_PER_PHONE_PER_HOUR: string(smsPerPhonePerHour)
  MFA_SMS_PER_IP_PER_HOUR: string(smsPerIpPerHour)
  MFA_SMS_PER_PREFIX_PER_HOUR: string(smsPerPrefixPerHour)
  MFA_SMS_DAILY_BUDGET: string(smsDailyBudget)
  MFA_SMS_LIMIT_SHARDS: string(smsLimitShards)
  MFA_SMS_LIMIT_LANES: string(smsLimitLanes)
  MFA_SMS_ALLOWED_COUNTRIES: smsAllowedCountries
  MFA_ADMIN_ROLE: adminRole
  MFA_TELEMETRY: telemetry
  ACS_SENDER: acsSender
}

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: rgName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${environmentName}-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    workspaceName: 'log-${environmentName}-${resourceToken}'
    appInsightsName: 'appi-${environmentName}-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    sku: storageSku
    tableName: tableName
    queueNames: queueNames
    deploymentContainerName: deploymentContainerName
    workspaceId: monitoring.outputs.workspaceId
  }
}

// Accounts 1.. of the state table (account 0 is `storage`), during a rebalance as many as either count needs.
module tableAccounts 'modules/table-account.bicep' = [for i in range(1, max(tableAccountCount, tableAccountsPrevious) - 1): {
  name: 'table-account-${i}'
  scope: rg
  params: {
    name: 'st${resourceToken}t${i}'
    location: location
    tags: tags
    sku: storageSku
    tableName: tableName
    workspaceId: monitoring.outputs.workspaceId
    principalId: identity.outputs.principalId
  }
}]

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}-${keyVaultGeneration}'
    location: location
    tags: tags
    workspaceId: monitoring.outputs.workspaceId
  }
}

// The deploying identity may create the app keys (postprovision hook); nothing else holds that right.
module deployerAccess 'modules/deployer.bicep' = if (grantDeployerKeyAccess && !empty(principalId)) {
  name: 'deployer-access'
  scope: rg
  params: {
    principalId: principalId
    principalType: principalType
    keyVaultName: keyVault.outputs.name
  }
}

module communication 'modules/communication.bicep' = if (!useExistingAcs) {
  name: 'communication'
  scope: rg
  params: {
    name: 'acs-${environmentName}-${resourceToken}'
    tags: tags
    dataLocation: acsDataLocation
    workspaceId: monitoring.outputs.workspaceId
  }
}

// The app's SMS role, on the Communication Services resource wherever it lives.
module smsSender 'modules/sms-role.bicep' = {
  name: 'sms-sender-role'
  scope: resourceGroup(acsSubscriptionId, acsResourceGroupName)
  params: {
    principalId: identity.outputs.principalId
    communicationName: acsName
  }
  dependsOn: [
    communication
  ]
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    tableName: tableName
    appInsightsName: monitoring.outputs.appInsightsName
  }
  dependsOn: [
    storage
  ]
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${environmentName}-${resourceToken}'
    location: location
    tags: tags
    identityName: identity.outputs.name
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    appInsightsName: monitoring.outputs.appInsightsName
    keyVaultName: keyVault.outputs.name
    hmacKeysSecretName: hmacKeysSecretName
    encryptionKeysSecretName: encryptionKeysSecretName
    acsEndpoint: smsSender.outputs.endpoint
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    appSettings: appSettings
    webhookSecretName: webhookSecretName
    adminAuthClientId: adminAuthClientId
  }
  dependsOn: [
    roles
    tableAccounts
  ]
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    namePrefix: '${environmentName}-${resourceToken}'
    location: location
    tags: tags
    appInsightsName: monitoring.outputs.appInsightsName
    communicationId: smsSender.outputs.communicationId
    appUrl: functionApp.outputs.url
    alertEmail: alertEmail
    smsAlertThresholdPerHour: smsAlertThresholdPerHour
    failureAlertThreshold: failureAlertThreshold
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    namePrefix: '${environmentName}-${resourceToken}'
    location: location
    tags: tags
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

// Names and endpoints only: no key, secret or connection string is ever an output.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = functionApp.outputs.url
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_COMMUNICATION_SERVICES_NAME string = acsName
output AZURE_COMMUNICATION_SERVICES_ID string = smsSender.outputs.communicationId
output AZURE_APP_IDENTITY_CLIENT_ID string = identity.outputs.clientId
