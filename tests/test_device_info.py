"""Phone facts: the parsers on their own, the facts script run for real on this host (where most
Android facts do not exist and must come out as unknown), and ``list_devices`` against the
emulated phone, whose readings the test changes through the emulator's profile."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from splitbench.emulator import AdbEmulator, EmulatedDeviceSpec, host_abi
from splitbench.emulator.profile import DeviceProfile
from splitbench.targets.adb import list_devices
from splitbench.targets.device_info import (
    UNKNOWN,
    BatteryFacts,
    DeviceFacts,
    PowerFacts,
    ThermalFacts,
    facts_from_text,
    facts_script,
    parse_battery,
    parse_df_free,
    parse_getprop,
    parse_power,
    parse_thermal,
)


def _free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


@pytest.mark.parametrize("df", [["df"], ["busybox", "df"]], ids=["coreutils", "busybox"])
def test_df_free_space_matches_statvfs(tmp_path: Path, df: list[str]) -> None:
    if not shutil.which(df[0]):
        pytest.skip(f"{df[0]} not installed")
    out = subprocess.run([*df, "-k", str(tmp_path)], capture_output=True, text=True, check=True)
    free = parse_df_free(out.stdout)
    assert free is not None
    assert abs(free - _free_bytes(tmp_path)) < 64 * 1024 * 1024  # others write meanwhile


def test_df_old_toolbox_format_with_unit_suffixes() -> None:
    # Android <= 5 toolbox df: "Filesystem Size Used Free Blksize", sizes with K/M/G suffixes
    text = (
        "Filesystem               Size     Used     Free   Blksize\n"
        "/data                   25.5G    12.1G    13.4G   4096\n"
    )
    assert parse_df_free(text) == int(13.4 * 1024**3)
    assert parse_df_free("df: /nope: No such file or directory\n") is None
    assert parse_df_free("") is None


def test_getprop_listing() -> None:
    text = "[ro.product.model]: [SM-A015F]\n[ro.empty]: []\n[ro.build.version.sdk]: [30]\n"
    assert parse_getprop(text) == {
        "ro.product.model": "SM-A015F",
        "ro.empty": "",
        "ro.build.version.sdk": "30",
    }


def test_battery_dump() -> None:
    text = (
        "Current Battery Service state:\n  AC powered: false\n  USB powered: true\n"
        "  Wireless powered: false\n  Max charging current: 500000\n  status: 2\n  health: 2\n"
        "  present: true\n  level: 87\n  scale: 100\n  voltage: 4212\n  temperature: 312\n"
        "  technology: Li-ion\n"
    )
    battery = parse_battery(text)
    assert battery == BatteryFacts(level=87, temp_c=31.2, status="charging", powered_by=("USB",))
    assert battery.charging is True
    assert parse_battery("  level: 40\n  scale: 50\n  status: 3\n").level == 80
    assert parse_battery("  status: 3\n").charging is False
    assert parse_battery("").charging is None  # unknown stays unknown


def test_power_and_battery_saver() -> None:
    assert parse_power("  mWakefulness=Awake\n", "0") == PowerFacts(True, False)
    assert parse_power("Display Power: state=OFF\n", "1") == PowerFacts(False, True)
    assert parse_power("  mBatterySaverEnabled=true\n", "null") == PowerFacts(None, True)
    assert parse_power("", "") == PowerFacts(None, None)


def test_thermal_status_and_zones() -> None:
    service = "IsStatusOverride: false\nThermal Status: 2\n"
    zones = "cpu-0-0 48500\nbattery 31\nxo-therm -40000\nbroken -\n"
    assert parse_thermal(service, zones) == ThermalFacts("moderate", "cpu-0-0", 48.5)
    assert parse_thermal("", "") == ThermalFacts(None, None, None)


def test_warnings_only_for_known_conditions() -> None:
    calm = DeviceFacts(
        serial="S1",
        battery=BatteryFacts(status="discharging"),
        power=PowerFacts(screen_on=False, battery_saver=False),
    )
    assert calm.warnings() == []
    unknown = DeviceFacts(serial="S1")
    assert unknown.warnings() == []  # nothing known, nothing claimed
    hot = DeviceFacts(
        serial="S1",
        battery=BatteryFacts(status="charging", powered_by=("USB",)),
        power=PowerFacts(screen_on=True, battery_saver=True),
        thermal=ThermalFacts(status="severe"),
    )
    warnings = hot.warnings()
    assert len(warnings) == 4
    assert all("S1" in w for w in warnings)
    assert any("charging (USB powered)" in w for w in warnings)
    assert any("battery saver" in w for w in warnings)
    assert any("screen on" in w for w in warnings)


def test_facts_script_on_this_host_says_unknown_for_what_is_missing(tmp_path: Path) -> None:
    """This host has no getprop, dumpsys or battery: those facts must be unknown, while what
    it does have (CPU list in /sys, free space) is read."""
    device_dir = tmp_path / "not" / "yet" / "made"  # df falls back to the nearest parent
    done = subprocess.run(
        ["/bin/sh", "-c", facts_script(str(device_dir))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    facts = facts_from_text("host-sh", done.stdout, str(device_dir))
    assert facts.model is None and facts.abi is None and facts.sdk is None
    assert facts.battery == BatteryFacts()
    assert facts.power == PowerFacts()
    assert facts.thermal.status is None
    assert facts.emulated is False
    host_cpus = sorted(p.name for p in Path("/sys/devices/system/cpu").glob("cpu[0-9]*"))
    assert sorted(c.name for c in facts.cores) == host_cpus
    assert facts.free_bytes is not None
    assert abs(facts.free_bytes - _free_bytes(tmp_path)) < 64 * 1024 * 1024
    rows = dict(facts.as_rows())
    assert rows["model"] == UNKNOWN
    assert rows["battery"] == f"{UNKNOWN}, {UNKNOWN}, {UNKNOWN}"
    assert facts.as_extra()["abi"] == UNKNOWN


def test_list_devices_reads_the_emulated_phone(tmp_path: Path) -> None:
    profile = DeviceProfile(battery_level=57, battery_temp_c=33.5, cpu_temp_c=41.0)
    specs = [
        EmulatedDeviceSpec("emu-facts", profile=profile, storage_bytes=64 * 1024**2),
        EmulatedDeviceSpec("emu-locked", state="unauthorized"),
    ]
    with AdbEmulator(port=0, devices=specs, root=tmp_path / "emu") as emu:
        by_serial = {f.serial: f for f in list_devices(emu.port)}
        facts = by_serial["emu-facts"]
        assert facts.state == "device"
        assert facts.model == "splitbench emulated phone"
        assert facts.emulated is True
        assert facts.abi == host_abi() and facts.abilist == (host_abi(),)
        assert facts.android_release == "14" and facts.sdk == 34
        assert len(facts.cores) == os.cpu_count()
        assert facts.battery.level == 57 and facts.battery.temp_c == 33.5
        assert facts.battery.charging is False
        assert facts.thermal.status == "none"
        assert facts.thermal.hottest_c == 41.0
        assert facts.power == PowerFacts(screen_on=False, battery_saver=False)
        assert facts.free_bytes is not None and 0 < facts.free_bytes <= 64 * 1024**2
        assert facts.device_dir == "/data/local/tmp/splitbench"
        assert facts.warnings() == []
        locked = by_serial["emu-locked"]
        assert locked.state == "unauthorized" and locked.model is None

        emu.device("emu-facts").update_profile(
            charging=True, screen_on=True, battery_saver=True, thermal_status=3
        )
        facts = {f.serial: f for f in list_devices(emu.port)}["emu-facts"]
        assert facts.battery.charging is True
        assert facts.power == PowerFacts(screen_on=True, battery_saver=True)
        assert facts.thermal.status == "severe"
        warnings = " ".join(facts.warnings())
        for word in ("charging", "battery saver", "screen on", "severe"):
            assert word in warnings
