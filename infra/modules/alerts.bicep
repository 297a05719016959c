// Alerts: the app's signals (5xx answers, SMS not delivered, crypto failures, security events parked or
// failing), failed executions, an availability test on /api/health, and an SMS volume spike (SMS pumping /
// toll fraud, or a runaway client). docs/deploy.md lists each and what fires it.
param namePrefix string
param location string
param tags object
param appInsightsName string
@description('Resource id of the Communication Services resource SMS are sent through (its metrics count SMS).')
param communicationId string

@description('Receiver of the alert e-mails; empty = no receiver yet.')
param alertEmail string

@minValue(1)
param smsAlertThresholdPerHour int

@minValue(1)
param failureAlertThreshold int

@description('https://<default host name> of the Function App, for the availability test.')
param appUrl string

// functions/health.py: anonymous, under host.json's routePrefix.
var healthPath = '/api/health'

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'twostep'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// Alerts on the app's own signals (shared/signals.py): one log line per event, its message starting with the
// event name and a colon. The Functions host records a successful execution (an HTTP 5xx answer, a poison
// message handled) only as a request that host.json's Host.Results level drops, so these lines, not the
// requests table, are what an incident leaves behind. Counted with itemCount (adaptive sampling keeps one
// trace for several and records how many). tests/infra/test_alert_signals.py runs the code behind each query.
var logAlerts = [
  {
    key: 'http-5xx'
    displayName: 'twostep: HTTP 5xx answers'
    description: 'The app answered 500 or 503 (twostep.http.5xx): Storage unreachable, a setting invalid (config: invalid on /api/health), stored data unreadable, or a bug. The log line names the function and the problem code.'
    severity: 1
    query: 'traces | where message startswith "twostep.http.5xx:"'
    threshold: failureAlertThreshold
  }
  {
    key: 'sms-failed'
    displayName: 'twostep: SMS not delivered'
    description: 'A user got no code (twostep.sms.delivery_failed): the host moved the message to sms-outbox-poison after maxDequeueCount failed sends, or the code expired before it could be sent. Check ACS (sender number, country, quota) and the send_sms exceptions.'
    severity: 1
    query: 'traces | where message startswith "twostep.sms.delivery_failed:"'
    threshold: 0
  }
  {
    key: 'crypto'
    displayName: 'twostep: stored data does not open'
    description: 'A stored value did not open or verify (crypto_failure): a key id no longer configured, a tampered or moved value. The log line names the key id, purpose and row kind (docs/deploy.md, Loud failures).'
    severity: 1
    query: 'traces | where message startswith "crypto_failure:"'
    threshold: 0
  }
  {
    key: 'events-parked'
    displayName: 'twostep: security event parked in events-poison'
    description: 'The webhook refused a security event on its last try (twostep.events.parked); the host parked it in events-poison, which nothing reads. Fix the receiver, then move the messages back (docs/deploy.md, Security events).'
    severity: 2
    query: 'traces | where message startswith "twostep.events.parked:"'
    threshold: 0
  }
  {
    key: 'webhook'
    displayName: 'twostep: webhook failures'
    description: 'Security event deliveries failed (twostep.webhook.failed): the receiver is down, slow or answers non-2xx. Each is retried; the events-parked alert fires when one is given up.'
    severity: 3
    query: 'traces | where message startswith "twostep.webhook.failed:"'
    threshold: failureAlertThreshold
  }
  {
    // Unhandled exceptions in the queue and timer triggers (HTTP triggers answer 5xx instead, above); the
    // host keeps failed requests at Host.Results' Error level.
    key: 'failures'
    displayName: 'twostep: function failures'
    description: 'Function executions failed with an exception (queue or timer trigger): each SMS send retry, a failing sweep or purge. Check the exceptions in Application Insights.'
    severity: 2
    query: 'requests | where success == false'
    threshold: failureAlertThreshold
  }
]

resource logAlert 'Microsoft.Insights/scheduledQueryRules@2021-08-01' = [for alert in logAlerts: {
  name: 'alert-${namePrefix}-${alert.key}'
  location: location
  tags: tags
  properties: {
    displayName: alert.displayName
    description: alert.description
    severity: alert.severity
    enabled: true
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    scopes: [
      appInsights.id
    ]
    criteria: {
      allOf: [
        {
          query: alert.query
          timeAggregation: 'Total'
          metricMeasureColumn: 'itemCount'
          operator: 'GreaterThan'
          threshold: alert.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}]

// GET /api/health from several regions every 5 minutes: 200 only when the settings are valid and Storage
// answers (functions/health.py). It also catches what no log line can: the app not starting, DNS, TLS.
resource healthTest 'Microsoft.Insights/webtests@2022-06-15' = {
  name: 'webtest-${namePrefix}-health'
  location: location
  tags: union(tags, {
    'hidden-link:${appInsights.id}': 'Resource'
  })
  kind: 'standard'
  properties: {
    SyntheticMonitorId: 'webtest-${namePrefix}-health'
    Name: 'twostep /api/health'
    Description: 'GET /api/health answers 200 (config ok, storage ok).'
    Enabled: true
    Frequency: 300
    Timeout: 30
    Kind: 'standard'
    RetryEnabled: true
    Locations: [
      {
        Id: 'emea-nl-ams-azr'
      }
      {
        Id: 'us-va-ash-azr'
      }
      {
        Id: 'apac-sg-sin-azr'
      }
    ]
    Request: {
      RequestUrl: '${appUrl}${healthPath}'
      HttpVerb: 'GET'
      ParseDependentRequests: false
      FollowRedirects: false
    }
    ValidationRules: {
      ExpectedHttpStatusCode: 200
      SSLCheck: true
      SSLCertRemainingLifetimeCheck: 7
    }
  }
}

resource healthAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-${namePrefix}-health'
  location: 'global'
  tags: tags
  properties: {
    description: 'GET /api/health failed from 2 or more test locations: the app is down, misconfigured (config: invalid) or cannot reach Storage.'
    severity: 1
    enabled: true
    scopes: [
      healthTest.id
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria'
      webTestId: healthTest.id
      componentId: appInsights.id
      failedLocationCount: 2
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

// SMS actually sent, counted by Communication Services itself (APIRequestSMS, operation SMSMessageSent), and
// only the accepted ones (StatusCodeClass 2xx): refused sends (4xx, 5xx) cost nothing and must not trip it.
resource smsVolumeAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-${namePrefix}-sms-volume'
  location: 'global'
  tags: tags
  properties: {
    description: 'More SMS than expected in one hour: possible SMS pumping (toll fraud) or a misbehaving client. Check the rate-limit audit events and the ACS cost.'
    severity: 2
    enabled: true
    scopes: [
      communicationId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'SmsSentPerHour'
          metricNamespace: 'Microsoft.Communication/CommunicationServices'
          metricName: 'APIRequestSMS'
          dimensions: [
            {
              name: 'Operation'
              operator: 'Include'
              values: [
                'SMSMessageSent'
              ]
            }
            {
              name: 'StatusCodeClass'
              operator: 'Include'
              values: [
                '2xx'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: smsAlertThresholdPerHour
          timeAggregation: 'Count'
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}
