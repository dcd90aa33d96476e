"""Management commands as `python main.py <command>` runs them (main.parse_args + run_command),
on a real SQLite file and a real SMTP server. Token commands are in tests/test_tokens.py."""

import main


def run(settings, capsys, *argv: str) -> tuple[int, str, str]:
    code = main.run_command(main.parse_args(list(argv)), settings)
    out, err = capsys.readouterr()
    return code, out, err


def test_send_daily_report_without_recipients_says_so_and_succeeds(make_settings, capsys, smtp_server):
    settings = make_settings(smtp={"transport": "smtp", "host": smtp_server.host, "port": smtp_server.port})

    code, out, err = run(settings, capsys, "send_daily_report")

    assert code == 0
    assert out == "daily report not sent: no recipients configured (reports.daily_stats_to)\n"
    assert err == ""
    assert smtp_server.received == []


def test_send_daily_report_mails_the_configured_recipients(make_settings, capsys, smtp_server):
    settings = make_settings(smtp={"transport": "smtp", "host": smtp_server.host, "port": smtp_server.port},
                             reports={"daily_stats_to": ["ops@example.com"]})

    code, out, _ = run(settings, capsys, "send_daily_report")

    assert code == 0
    assert out == "daily report sent to 1 recipient(s)\n"
    [received] = smtp_server.received
    assert received.rcpt_tos == ["ops@example.com"]
