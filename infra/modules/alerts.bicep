// Alerts: a message reached sms-outbox-poison (an SMS could not be sent after maxDequeueCount tries),
// function failures, and an SMS volume spike (SMS pumping / toll fraud, or a runaway client).
param namePrefix string
param location string
param tags object
param appInsightsName string
param communicationName string

@description('Receiver of the alert e-mails; empty = no receiver yet.')
param alertEmail string

@minValue(1)
param smsAlertThresholdPerHour int

@minValue(1)
param failureAlertThreshold int

// The queue-triggered functions of functions/sms_sender.py (function name = Python function name).
var poisonFunctionName = 'sms_delivery_failed'

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource communication 'Microsoft.Communication/communicationServices@2025-05-01' existing = {
  name: communicationName
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

// Every message the host moves to sms-outbox-poison triggers sms_delivery_failed, which marks the
// challenge's delivery failed; one such execution means one user did not get a code.
resource poisonQueueAlert 'Microsoft.Insights/scheduledQueryRules@2021-08-01' = {
  name: 'alert-${namePrefix}-sms-poison'
  location: location
  tags: tags
  properties: {
    displayName: 'twostep: SMS message in sms-outbox-poison'
    description: 'An SMS could not be sent after the host retried it maxDequeueCount times; the message was moved to sms-outbox-poison. Check ACS (sender number, country, quota) and the send_sms exceptions.'
    severity: 1
    enabled: true
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    scopes: [
      appInsights.id
    ]
    criteria: {
      allOf: [
        {
          query: 'requests | where name == "${poisonFunctionName}"'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
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
}

// Failed executions: an unhandled exception (queue/timer trigger) or a 5xx answer (Storage or ACS down,
// settings invalid). 4xx answers (wrong code, rate limit) are expected traffic and do not count.
resource failureAlert 'Microsoft.Insights/scheduledQueryRules@2021-08-01' = {
  name: 'alert-${namePrefix}-failures'
  location: location
  tags: tags
  properties: {
    displayName: 'twostep: function failures'
    description: 'Function executions failed (exception or HTTP 5xx). Check /api/health and the exceptions in Application Insights.'
    severity: 1
    enabled: true
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    scopes: [
      appInsights.id
    ]
    criteria: {
      allOf: [
        {
          query: 'requests | where success == false or toint(resultCode) >= 500'
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: failureAlertThreshold
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
      communication.id
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
