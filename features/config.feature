Feature: Config — the reference config runs unchanged, and bad configs fail with located errors

  Scenario: The reference OpenTelemetryCollector resource validates unchanged
    When validate runs on the reference config with its env variables set
    Then it exits with code 0
    And its output contains "valid"

  Scenario: The config in deploy/ validates
    Given the collector is deployed from "deploy"
    When validate runs on the deployed config
    Then it exits with code 0

  Scenario Outline: A broken config is refused with file, line, column and key
    When validate runs on the reference config with "<from>" replaced by "<to>"
    Then it exits with code 1
    And its output contains "<message>"
    And its output names a line and column

    Examples:
      | from                       | to                        | message                                   |
      | insecure_skip_verify: true | insecure_skp_verify: true | did you mean `insecure_skip_verify`?      |
      | exporters: [loki]          | exporters: [lokii]        | which is not defined in `exporters`       |
      | action: insert             | action: inserted          | unknown value `inserted`                  |
      | auth_type: serviceAccount  | auth_type: token          | unknown value `token`                     |

  Scenario: A config file that cannot be read exits with code 2
    When validate runs on a file that does not exist
    Then it exits with code 2
