Feature: Payloads — exactly what reaches Loki, reviewed as snapshots

  The old OpenTelemetry loki exporter's labels and JSON lines are what dashboards built on the
  reference setup query. Every push is decoded and compared with a reviewed snapshot.

  Background:
    Given Loki requires basic auth and a tenant
    And the cluster has an event "web-7.a" in "shop" with reason "BackOff" and type "Warning"
    And the cluster has an event "db-0.b" in "payments" with reason "SuccessfulCreate" and type "Normal"

  Scenario: The reference config's pushes
    Given the collector runs the reference config
    When the collector starts with start_from "all"
    Then Loki stores 2 entries
    And the stored streams match the snapshot "reference_config"

  Scenario: The deployed config's pushes
    Given the collector is deployed from "deploy"
    When the collector starts with start_from "all"
    Then Loki stores 2 entries
    And the stored streams match the snapshot "deployed_config"

  Scenario Outline: Each line format
    Given the collector is deployed from "deploy" with loki.format "<format>"
    When the collector starts with start_from "all"
    Then Loki stores 2 entries
    And the stored streams match the snapshot "line_format_<format>"

    Examples:
      | format |
      | json   |
      | logfmt |
      | raw    |

  Scenario: A repeated event is shipped once per occurrence with its count
    Given the collector is deployed from "deploy"
    When the collector starts with start_from "all"
    And the event "web-7.a" in "shop" is repeated 2 more times
    Then Loki stores 4 entries
    And the stored streams match the snapshot "repeated_event"

  Scenario: Per-record tenant from the loki.tenant hint
    Given the collector is deployed from "deploy" with the tenant taken from each event's namespace
    When the collector starts with start_from "all"
    Then Loki stores 1 entry for tenant "shop"
    And Loki stores 1 entry for tenant "payments"

  Scenario: Structured metadata keeps high-cardinality uids out of the line
    Given the collector is deployed from "deploy" with the event uid as structured metadata
    When the collector starts with start_from "all"
    Then Loki stores 2 entries
    And the stored streams match the snapshot "structured_metadata"
