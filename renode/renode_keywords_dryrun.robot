*** Settings ***
Documentation       Stand-ins with the signatures of the Renode keywords that soi.resource.robot uses, so that
...                 `robot --dryrun --variable RENODEKEYWORDS:renode/renode_keywords_dryrun.robot SUITE` checks a
...                 generated suite without Renode (tests/test_renode.py). Never used in a real run: renode-test
...                 sets RENODEKEYWORDS to its own renode-keywords.robot. Signatures: Renode's
...                 src/Renode/RobotFrameworkEngine/{RenodeKeywords,UartKeywords}.cs and tests/renode-keywords.robot.


*** Keywords ***
Setup
    No Operation

Teardown
    No Operation

Test Teardown
    No Operation

Reset Emulation
    No Operation

Start Emulation
    No Operation

Execute Command
    [Arguments]    ${command}    ${machine}=${None}
    Fail    dry-run stand-in

Execute Script
    [Arguments]    ${path}
    Fail    dry-run stand-in

Create Terminal Tester
    [Arguments]    ${uart}    ${timeout}=${None}    ${machine}=${None}    ${endLineOption}=${None}
    ...    ${defaultPauseEmulation}=${None}    ${defaultWaitForEcho}=${None}    ${defaultMatchNextLine}=${None}
    ...    ${binaryMode}=${False}
    Fail    dry-run stand-in

Wait For Line On Uart
    [Arguments]    ${content}    ${timeout}=${None}    ${testerId}=${None}    ${treatAsRegex}=${False}
    ...    ${includeUnfinishedLine}=${False}    ${pauseEmulation}=${None}    ${matchNextLine}=${None}
    Fail    dry-run stand-in
