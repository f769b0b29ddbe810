Feature: RBAC — the collector reads events with the least privilege deploy/ grants

  The ClusterRole in deploy/ grants get, list and watch on events, nothing more. The simulated
  API server authorizes every request with the RBAC objects from deploy/, so a mistake there
  fails these scenarios.

  Background:
    Given Loki requires basic auth and a tenant
    And the collector is deployed from "deploy"

  Scenario: The shipped ClusterRole is enough to ship events
    Given the cluster has an event "web-1.a" in "shop" with reason "BackOff" and type "Warning"
    When the collector starts with start_from "all"
    Then Loki stores exactly 1 entry for event "web-1.a"
    And the collector is ready

  Scenario: Without the ClusterRoleBinding nothing is shipped, the log says why, and applying it recovers
    Given the ClusterRoleBinding "k8s-event-collector" is deleted
    And the cluster has an event "web-1.a" in "shop" with reason "BackOff" and type "Warning"
    When the collector starts with start_from "all"
    Then the collector log says "cannot list events"
    And the collector log names the service account "system:serviceaccount:otel:k8s-event-collector"
    And the collector is not ready
    And Loki has received no push
    When the ClusterRoleBinding "k8s-event-collector" is applied again
    Then Loki stores exactly 1 entry for event "web-1.a"
    And the collector is ready

  Scenario: A ClusterRole without watch is refused at the watch
    Given the ClusterRole "k8s-event-collector" does not grant "watch"
    When the collector starts
    Then the collector log says "cannot watch events"
    And the collector is not ready

  Scenario: A namespaced Role limits the collector to its namespace
    Given the ClusterRoleBinding "k8s-event-collector" is deleted
    And a Role granting get, list and watch on events in namespace "shop" is bound to the collector
    And the collector watches only the namespaces "shop"
    And the cluster has an event "web-1.a" in "shop" with reason "BackOff" and type "Warning"
    And the cluster has an event "db-0.b" in "payments" with reason "Killing" and type "Normal"
    When the collector starts with start_from "all"
    Then Loki stores exactly 1 entry for event "web-1.a"
    And Loki stores no entry for event "db-0.b"

  Scenario: The collector asks for nothing beyond reading events
    Given the cluster has an event "web-1.a" in "shop" with reason "BackOff" and type "Warning"
    When the collector starts with start_from "all"
    Then Loki stores exactly 1 entry for event "web-1.a"
    And every API request of the collector was a get, list or watch of events
