Feature: TLS — every way to reach Loki securely, and clear errors when it is not

  Background:
    Given Loki requires basic auth and a tenant
    And the cluster has an event "web-1.a" in "shop" with reason "BackOff" and type "Warning"

  Scenario: Plain http
    Given the collector is deployed from "deploy" with Loki over plain http
    When the collector starts with start_from "all"
    Then Loki stores exactly 1 entry for event "web-1.a"

  Scenario: https with a CA-signed certificate and the CA in ca_file
    Given Loki is served over TLS with a "CaSigned" certificate
    And the collector is deployed from "deploy" trusting the Loki CA
    When the collector starts with start_from "all"
    Then Loki stores exactly 1 entry for event "web-1.a"

  Scenario: https with a self-signed certificate and insecure_skip_verify
    Given Loki is served over TLS with a "SelfSigned" certificate
    And the collector is deployed from "deploy" with insecure_skip_verify
    When the collector starts with start_from "all"
    Then Loki stores exactly 1 entry for event "web-1.a"
    And the collector log says "will not be verified"

  Scenario: https with a self-signed certificate and no skip-verify fails clearly, then delivers once fixed
    Given Loki is served over TLS with a "SelfSigned" certificate
    And the collector is deployed from "deploy" trusting the Loki CA
    When the collector starts with start_from "all"
    Then the collector log says "certificate not trusted"
    And Loki stores no entry for event "web-1.a"
    When the collector is redeployed with insecure_skip_verify and restarted
    Then Loki stores exactly 1 entry for event "web-1.a"

  Scenario: Mutual TLS with a client certificate
    Given Loki is served over TLS with a "MutualTls" certificate
    And the collector is deployed from "deploy" trusting the Loki CA with a client certificate
    When the collector starts with start_from "all"
    Then Loki stores exactly 1 entry for event "web-1.a"

  Scenario: Mutual TLS without a client certificate is refused
    Given Loki is served over TLS with a "MutualTls" certificate
    And the collector is deployed from "deploy" trusting the Loki CA
    When the collector starts with start_from "all"
    Then Loki stores no entry for event "web-1.a"
    And the TLS gateway refused at least 1 handshake

  Scenario: A certificate for another host name is refused with a clear message
    Given Loki is served over TLS with a "WrongHost" certificate
    And the collector is deployed from "deploy" trusting the Loki CA
    When the collector starts with start_from "all"
    Then Loki stores no entry for event "web-1.a"
    And the collector log says "certificate"

  Scenario: The API server's CA is what the collector trusts for the cluster
    Given the collector is deployed from "deploy"
    When the collector starts with start_from "all"
    Then Loki stores exactly 1 entry for event "web-1.a"
    And every API request of the collector was authenticated as "system:serviceaccount:otel:k8s-event-collector"
