*** Settings ***
Documentation       Keywords of the suites that soi-mcu generates (soi_mcu/renode.py): run one harness firmware on
...                 a Renode board, keep its UART output in a file and the executed-instruction count at every
...                 profiling marker in another. Renode's keywords (Execute Command, Create Terminal Tester,
...                 Wait For Line On Uart, ...) come from renode-test through ${RENODEKEYWORDS}.
Library             OperatingSystem


*** Keywords ***
Load SOI Board
    [Documentation]    Runs the board's .resc (machine, platform, UART -> ${uart_log}) with the firmware ${elf}.
    [Arguments]    ${resc}    ${elf}    ${uart_log}
    Remove File    ${uart_log}
    Execute Command    $bin=@${elf}
    Execute Command    $uart_log=@${uart_log}
    Execute Script    ${resc}

Add SOI Marker Hooks
    [Documentation]    On every entry of a marker function, appends "<address> <executed instructions>" to
    ...    ${marks_log}. Renode's counter is exact per instruction; it is not a cycle count.
    [Arguments]    ${marks_log}    @{addresses}
    Remove File    ${marks_log}
    FOR    ${address}    IN    @{addresses}
        Execute Command
        ...    sysbus.cpu AddHook ${address} "f = open(r'${marks_log}', 'a'); f.write('${address} %d' % self.ExecutedInstructions + chr(10)); f.close()"
    END

Run Until SOI Done
    [Documentation]    Starts the machine and waits (virtual time) for the harness's last line: SOI_DONE, or
    ...    SOI_ERROR / SOI_FAULT when it failed. Writes the total executed instructions to ${insns_file}.
    [Arguments]    ${uart}    ${timeout}    ${insns_file}
    Create Terminal Tester    ${uart}    timeout=${timeout}
    Start Emulation
    ${result}=    Wait For Line On Uart    ^SOI_(DONE|ERROR|FAULT)    treatAsRegex=true    pauseEmulation=true
    ${insns}=    Execute Command    sysbus.cpu ExecutedInstructions
    Create File    ${insns_file}    ${insns}
    Should Be Equal    ${result.Groups[0]}    DONE    msg=the firmware stopped with: ${result.Line}    values=False

SOI Test Teardown
    [Documentation]    Closes the UART log file, then Renode's own teardown (logs, snapshot on failure).
    [Arguments]    ${uart}    ${uart_log}
    Run Keyword And Ignore Error    Execute Command    ${uart} CloseFileBackend @${uart_log}
    Test Teardown
