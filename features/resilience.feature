Feature: Resilience — every event reaches Loki exactly once, whatever fails

  Background:
    Given Loki requires basic auth and a tenant
    And the collector is deployed from "deploy"
    And the exporter retries quickly: first after 200ms, at most every 1s

  Scenario: Loki answers 500, then recovers
    Given Loki answers 500 to the next 2 pushes
    And the cluster has an event "web-1.a" in "shop" with reason "BackOff" and type "Warning"
    When the collector starts with start_from "all"
    Then Loki stores exactly 1 entry for event "web-1.a"

  @sim-only
  Scenario: Loki rate-limits with 429 and Retry-After
    Given Loki answers 429 with Retry-After 1 to the next 2 pushes
    And the cluster has an event "web-1.a" in "shop" with reason "BackOff" and type "Warning"
    When the collector starts with start_from "all"
    Then Loki stores exactly 1 entry for event "web-1.a"
    And Loki received the retries at least 1 second apart

  Scenario: Loki is down, then up: nothing is lost
    Given Loki is down
    When the collector starts
    And 5 events are created in "shop"
    And Loki is up again
    Then Loki stores each of the 5 events exactly once

  Scenario: The watch is dropped by the API server
    When the collector starts
    And 2 events are created in "shop"
    And the API server closes every watch
    And 2 events are created in "shop"
    Then Loki stores each of the 4 events exactly once

  Scenario: The watch expires (410 Gone) and the collector re-lists without duplicates
    When the collector starts
    And 2 events are created in "shop"
    Then Loki stores 2 entries
    When the API server answers 503 to the next 6 list or watch requests
    And the API server closes every watch
    And 2 events are created in "shop"
    And the API server compacts its history
    Then Loki stores each of the 4 events exactly once
    And the collector re-listed at least once

  Scenario: The collector is killed and restarted with its storage: no loss, no duplicate
    When the collector starts
    And 3 events are created in "shop"
    Then Loki stores 3 entries
    When the collector is killed
    And 3 events are created in "shop"
    And the collector starts again
    Then Loki stores each of the 6 events exactly once

  Scenario: SIGTERM flushes what was read before exiting
    Given Loki answers slowly, taking 1 second per push
    When the collector starts
    And 3 events are created in "shop"
    And the collector receives SIGTERM
    Then the collector exits with code 0
    And Loki stores each of the 3 events exactly once

  Scenario: Two replicas with leader election ship each event once, also after the leader is killed
    Given the ha overlay's leader election is added: lease "k8s-event-collector" in "otel", lease_duration 3s, renew_deadline 2s, retry_period 500ms
    When replicas "collector-a" and "collector-b" start
    And 3 events are created in "shop"
    Then Loki stores each of the 3 events exactly once
    And exactly one replica is the leader
    When the leader is killed
    And 3 events are created in "shop"
    Then the other replica becomes the leader within 15 seconds
    And Loki stores each of the 6 events exactly once
    And no entry was pushed to Loki twice

  Scenario: A leader stopped with SIGTERM hands the Lease over at once, without loss or duplicate
    Given the ha overlay's leader election is added: lease "k8s-event-collector" in "otel", lease_duration 3s, renew_deadline 2s, retry_period 500ms
    When replicas "collector-a" and "collector-b" start
    And 3 events are created in "shop"
    Then Loki stores each of the 3 events exactly once
    When the leader receives SIGTERM and exits
    Then the other replica becomes the leader within 2 seconds
    When 3 events are created in "shop"
    Then Loki stores each of the 6 events exactly once
    And no entry was pushed to Loki twice
