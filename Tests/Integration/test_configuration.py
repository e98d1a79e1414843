"""One configuration (issue 16): every setting from a JSON file, BROKER_* environment
variables and flags, in that order of precedence, read with swift-configuration.
`broker config check` names the bad key; an invalid value stops a process at start-up with a
message naming it, never a silent default."""
import json
import os
import signal
import subprocess

import pika
import pytest

from conftest import broker_binary, free_port, needs_own_broker, wait_for


def broker(*args, env=None, timeout=30):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
    environment.update(env or {})
    return subprocess.run([broker_binary(), *args], capture_output=True, text=True, timeout=timeout, env=environment)


def write(tmp_path, settings, name="broker.json"):
    path = tmp_path / name
    path.write_text(json.dumps(settings) if not isinstance(settings, str) else settings)
    return str(path)


def test_config_check_accepts_a_valid_file(tmp_path):
    path = write(tmp_path, {"partitions": 4, "port": 5673, "log_level": "warning", "users": ["ops:secret:administrator"],
                            "enable_telemetry": True, "memory_high_watermark": 0.5, "data_dir": "/var/lib/broker"})
    result = broker("config", "check", path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{path}: ok (7 settings)"


@pytest.mark.parametrize("settings, message", [
    ({"prot": 5672}, "unknown key 'prot' (did you mean 'port'?)"),
    ({"port": "fast"}, "'port' must be an integer from 0 to 65535"),
    ({"port": 70000}, "'port' must be an integer from 0 to 65535, got '70000'"),
    ({"log_level": "loud"}, "'log_level' must be one of trace, debug, info, notice, warning, error, critical, got 'loud'"),
    ({"enable_telemetry": "maybe"}, "'enable_telemetry' must be true or false"),
    ({"partitions": 0}, "'partitions' must be an integer from 1 to 1024, got '0'"),
    ("[1, 2]", "not a JSON object"),
    ("{\"port\": ", "not a JSON object"),
])
def test_config_check_names_the_bad_key(tmp_path, settings, message):
    path = write(tmp_path, settings)
    result = broker("config", "check", path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.strip() == f"error: {path}: {message}", result.stderr


def test_config_show_gives_each_setting_and_its_source_with_the_environment_over_the_file(tmp_path):
    path = write(tmp_path, {"port": 5800, "heartbeat": 30})
    result = broker("config", "show", "--config", path, env={"BROKER_PORT": "5900"})
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert rows["port"][1:] == ["5900", "environment", "variable", "BROKER_PORT"]
    assert rows["heartbeat"][1:] == ["30", path]
    assert rows["log_level"][1:] == ["info", "default"]


def test_an_invalid_environment_value_stops_cluster_up_naming_the_variable(tmp_path):
    result = broker("cluster", "up", "--workers", "1", "--runtime-dir", str(tmp_path / "run"),
                    env={"BROKER_LOG_LEVEL": "chatty"})
    assert result.returncode == 1
    assert "environment variable BROKER_LOG_LEVEL: 'log_level' must be one of" in result.stderr, result.stderr


def test_an_invalid_flag_is_refused_too(tmp_path):
    result = broker("cluster", "up", "--workers", "1", "--port", "99999", "--runtime-dir", str(tmp_path / "run"))
    assert result.returncode == 1 and "flag --port: 'port' must be an integer from 0 to 65535, got '99999'" in result.stderr, result.stderr


def test_a_cluster_takes_its_settings_from_the_file_the_environment_and_flags_in_that_order(tmp_path):
    needs_own_broker("--config", "that the configuration file is read")
    file_port, env_port = free_port(), free_port()
    path = write(tmp_path, {"partitions": 2, "port": file_port, "event_loops": 1, "heartbeat": 17,
                            "users": ["ops:s3cret:administrator"], "runtime_dir": str(tmp_path / "run")})
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
    environment.update({"BROKER_PORT": str(env_port), "BROKER_CONFIG": path})
    process = subprocess.Popen([broker_binary(), "cluster", "up", "--host", "127.0.0.1", "--heartbeat", "23"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    try:
        line = process.stdout.readline()
        assert line.startswith("broker cluster up: 2 workers"), (line, process.stderr.read() if process.poll() is not None else "")
        assert f":{env_port}/" in line, line  # the environment over the file
        params = pika.ConnectionParameters(host="127.0.0.1", port=env_port,
                                           credentials=pika.PlainCredentials("ops", "s3cret"), heartbeat=None)
        conn = pika.BlockingConnection(params)
        assert conn._impl.params.heartbeat == 23  # the flag over the file: the broker proposed 23
        conn.close()
        with pytest.raises(pika.exceptions.ProbableAuthenticationError):
            pika.BlockingConnection(pika.ConnectionParameters(host="127.0.0.1", port=env_port))  # no guest
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_sighup_reloads_the_log_level_and_the_users_without_a_restart(tmp_path):
    needs_own_broker("SIGHUP", "that a reload changes users and the log level")
    path = write(tmp_path, {"users": ["ops:one:administrator"], "log_level": "info"})
    port = free_port()
    log = tmp_path / "log.txt"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
    with open(log, "w") as stderr:
        process = subprocess.Popen([broker_binary(), "cluster", "up", "--workers", "1", "--port", str(port), "--host", "127.0.0.1",
                                    "--runtime-dir", str(tmp_path / "run"), "--config", path],
                                   stdout=subprocess.PIPE, stderr=stderr, text=True, env=environment)
    try:
        assert process.stdout.readline().startswith("broker cluster up"), log.read_text()

        def login(password):
            params = pika.ConnectionParameters(host="127.0.0.1", port=port, credentials=pika.PlainCredentials("ops", password))
            pika.BlockingConnection(params).close()

        login("one")
        before = log.read_text()
        assert "debug" not in before
        write(tmp_path, {"users": ["ops:two:administrator"], "log_level": "debug"})
        process.send_signal(signal.SIGHUP)
        reloaded = lambda: log.read_text().count("configuration reloaded") == 2  # the router and the worker
        assert wait_for(reloaded, 10), log.read_text()
        assert "users=1" in log.read_text() and "log_level=debug" in log.read_text()
        login("two")
        with pytest.raises(pika.exceptions.ProbableAuthenticationError):
            login("one")
        assert "debug broker.router" in log.read_text()[len(before):]  # the new level is in force
        # A bad file changes nothing and says why.
        write(tmp_path, {"users": ["ops:three"], "log_level": "loud"})
        process.send_signal(signal.SIGHUP)
        assert wait_for(lambda: log.read_text().count("configuration not reloaded") == 2, 10), log.read_text()
        login("two")
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=30)
