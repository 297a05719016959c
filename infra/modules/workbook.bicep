// Azure Monitor workbook "twostep": one chart per twostep.* metric (shared/kernel/telemetry.py, exported by
// the app's OpenTelemetry path into customMetrics), the function invocations and the Storage / ACS / webhook
// calls under them (dependencies), and the decision log lines (traces). docs/operations.md says what each
// chart means for an operator; tests/infra/test_workbook.py holds the metric names to the code's.
@description('Name prefix shared by the deployment\'s resources; part of the workbook\'s display name.')
param namePrefix string

@description('Azure region of the workbook resource.')
param location string

@description('Tags put on the workbook.')
param tags object

@description('Name of the Application Insights resource the charts query.')
param appInsightsName string

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// Counters arrive as customMetrics rows, one per export interval and attribute set (valueSum = the count).
var charts = [
  {
    title: 'Challenges begun, by method (twostep.challenges.begun)'
    query: 'customMetrics | where name == "twostep.challenges.begun" | summarize challenges = sum(valueSum) by method = tostring(customDimensions.method), bin(timestamp, 1h) | render timechart'
    visualization: 'timechart'
  }
  {
    title: 'Approved answers, by method (twostep.verify.approved)'
    query: 'customMetrics | where name == "twostep.verify.approved" | summarize approvals = sum(valueSum) by method = tostring(customDimensions.method), bin(timestamp, 1h) | render timechart'
    visualization: 'timechart'
  }
  {
    title: 'Wrong answers, by method (twostep.verify.failed)'
    query: 'customMetrics | where name == "twostep.verify.failed" | summarize failures = sum(valueSum) by method = tostring(customDimensions.method), bin(timestamp, 1h) | render timechart'
    visualization: 'timechart'
  }
  {
    title: 'Lockouts (twostep.users.locked)'
    query: 'customMetrics | where name == "twostep.users.locked" | summarize lockouts = sum(valueSum) by bin(timestamp, 1h) | render columnchart'
    visualization: 'barchart'
  }
  {
    title: 'SMS sent, by country (twostep.sms.sent)'
    query: 'customMetrics | where name == "twostep.sms.sent" | summarize sent = sum(valueSum) by country = tostring(customDimensions.country), bin(timestamp, 1h) | render timechart'
    visualization: 'timechart'
  }
  {
    title: 'SMS refused by the provider, by country (twostep.sms.failed)'
    query: 'customMetrics | where name == "twostep.sms.failed" | summarize failed = sum(valueSum) by country = tostring(customDimensions.country), bin(timestamp, 1h) | render timechart'
    visualization: 'timechart'
  }
  {
    title: 'SMS refused by a send limit, by country and limit (twostep.sms.rate_limited)'
    query: 'customMetrics | where name == "twostep.sms.rate_limited" | summarize refused = sum(valueSum) by country = tostring(customDimensions.country), limit = tostring(customDimensions.limit) | order by refused desc'
    visualization: 'table'
  }
  {
    title: 'SMS segments billed, by country (twostep.sms.segments)'
    query: 'customMetrics | where name == "twostep.sms.segments" | summarize segments = sum(valueSum) by country = tostring(customDimensions.country) | order by segments desc'
    visualization: 'table'
  }
  {
    title: 'Webhook deliveries, by outcome (twostep.webhook.deliveries)'
    query: 'customMetrics | where name == "twostep.webhook.deliveries" | summarize deliveries = sum(valueSum) by outcome = tostring(customDimensions.outcome), bin(timestamp, 1h) | render timechart'
    visualization: 'timechart'
  }
  {
    title: 'Function invocations: count, failures, 95th percentile duration'
    query: 'dependencies | where isnotempty(customDimensions["faas.trigger"]) | summarize invocations = count(), failed = countif(success == false), p95ms = percentile(duration, 95) by name | order by invocations desc'
    visualization: 'table'
  }
  {
    title: 'Storage, ACS and webhook calls: count, failures, 95th percentile duration by target'
    query: 'dependencies | where type == "HTTP" | summarize calls = count(), failed = countif(success == false), p95ms = percentile(duration, 95) by target | order by calls desc'
    visualization: 'table'
  }
  {
    title: 'Decision log lines, by event'
    query: 'traces | where isnotempty(customDimensions.event) | summarize lines = count() by event = tostring(customDimensions.event), bin(timestamp, 1h) | render timechart'
    visualization: 'timechart'
  }
]

var workbookContent = {
  version: 'Notebook/1.0'
  items: [for (chart, i) in charts: {
    type: 3
    name: 'chart-${i}'
    content: {
      version: 'KqlItem/1.0'
      title: chart.title
      query: chart.query
      size: 0
      timeContext: {
        durationMs: 604800000
      }
      queryType: 0
      resourceType: 'microsoft.insights/components'
      visualization: chart.visualization
    }
  }]
  fallbackResourceIds: [
    appInsights.id
  ]
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, namePrefix, 'twostep-workbook')  // a workbook's name is a GUID
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'twostep (${namePrefix})'
    category: 'workbook'
    version: 'Notebook/1.0'
    sourceId: appInsights.id
    serializedData: string(workbookContent)
  }
}

output workbookName string = workbook.name
