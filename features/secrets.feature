Feature: Secrets — credentials travel Secret -> env -> config -> request, and nowhere else

  The Deployment in deploy/ reads the Loki tenant, user and password from the Secret
  "loki-creds" through env variables; the collector config refers to them as ${env:...}.

  Background:
    Given Loki requires basic auth and a tenant

  Scenario: The Secret's values reach Loki as basic auth and the tenant header
    Given the collector is deployed from "deploy"
    And the cluster has an event "web-1.a" in "shop" with reason "BackOff" and type "Warning"
    When the collector starts with start_from "all"
    Then Loki stores exactly 1 entry for event "web-1.a"
    And every push carried the basic auth user from the Secret
    And every push carried the tenant from the Secret

  Scenario: A wrong password is reported, retried without a storm, and nothing is lost once fixed
    Given the collector is deployed from "deploy"
    And the Secret "loki-creds" has "PASSWORD" set to "not-the-password"
    And the cluster has an event "web-1.a" in "shop" with reason "BackOff" and type "Warning"
    When the collector starts with start_from "all"
    Then the collector log says "rejected the credentials"
    And Loki has received at most 3 pushes within 5 seconds
    And Loki stores no entry for event "web-1.a"
    When the password at Loki's gateway is changed to "not-the-password"
    Then Loki stores exactly 1 entry for event "web-1.a"

  Scenario: A Secret without the password (an optional key reference) stops the collector at start, naming the variable
    Given the collector is deployed from "deploy"
    And the Secret "loki-creds" has no key "PASSWORD"
    When the collector starts
    Then the collector exits with code 1
    And the collector log says "is not set"

  Scenario: A rotated password file is picked up without a restart
    Given the collector is deployed from "deploy" reading the Loki password from a file
    And the cluster has an event "web-1.a" in "shop" with reason "BackOff" and type "Warning"
    When the collector starts with start_from "all"
    Then Loki stores exactly 1 entry for event "web-1.a"
    When the password is rotated to "rotated-Pa55word" in the file and at Loki's gateway
    And an event "web-2.b" is created in "shop" with reason "Pulled" and type "Normal"
    Then Loki stores exactly 1 entry for event "web-2.b"

  Scenario: The password appears in no log line, metric or error
    Given the collector is deployed from "deploy"
    And the password in the Secret and at Loki's gateway is "s3cr3t-Pa55word-42"
    And the cluster has an event "web-1.a" in "shop" with reason "BackOff" and type "Warning"
    When the collector starts with start_from "all"
    Then Loki stores exactly 1 entry for event "web-1.a"
    And the text "s3cr3t-Pa55word-42" appears nowhere in the collector's output or metrics

  Scenario: print-config shows the deployed config with the password redacted
    Given the collector is deployed from "deploy"
    And the Secret "loki-creds" has "PASSWORD" set to "s3cr3t-Pa55word-42"
    When print-config runs on the deployed config
    Then its output contains "[REDACTED]"
    And its output does not contain "s3cr3t-Pa55word-42"
