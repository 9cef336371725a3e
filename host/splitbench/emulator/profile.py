"""The emulated phone's identity and readings, written as files the sandboxed shell can read.

Why files: the kit asks a phone about itself with shell commands (``getprop``, ``dumpsys battery``,
``cat /sys/class/thermal/thermal_zone0/temp``, ``cat /sys/devices/system/cpu/cpu0/cpufreq/...``).
Answering from files inside the sandbox means those commands really run, with the same shell and
the same parsing as on a phone. Every value that is not read from this host is labelled as
emulated: ``ro.splitbench.emulated=1``, ``ro.hardware=emulated``, governor ``emulated``,
battery technology ``emulated``. Host-derived values: ABI, core count, CPU model, CPU topology,
CPU frequency (from cpufreq if readable, else the ``cpu MHz`` line of ``/proc/cpuinfo``).

Emulated device paths (under the device root on this host, bound into the sandbox):

- ``/system/build.prop`` — the property list; ``/system/bin/getprop`` reads it.
- ``/system/bin/dumpsys`` — prints ``/system/etc/dumpsys/<service>`` (battery, power,
  thermalservice).
- ``/system/bin/settings`` — ``settings get global low_power`` (battery saver).
- ``/sys/devices/system/cpu/{possible,present,online}``, ``cpuN/online``,
  ``cpuN/topology/*`` (copied from the host), ``cpuN/cpufreq/*``.
- ``/sys/class/thermal/thermal_zone{0,1}/{type,temp}``, ``/sys/class/power_supply/battery/*``.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

#: Host machine names mapped to Android ABI names (``ro.product.cpu.abi``).
_ABI_BY_MACHINE = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "aarch64": "arm64-v8a",
    "arm64": "arm64-v8a",
    "armv7l": "armeabi-v7a",
    "armv8l": "armeabi-v7a",
    "i686": "x86",
    "i386": "x86",
}

GETPROP_SCRIPT = r"""#!/bin/sh
# getprop of the splitbench emulated phone: answers from /system/build.prop (key=value lines),
# in the format of Android's getprop ("[key]: [value]" with no argument, the value with one).
props=/system/build.prop
if [ $# -eq 0 ]; then
  while IFS= read -r line; do
    case $line in ''|'#'*) continue ;; esac
    printf '[%s]: [%s]\n' "${line%%=*}" "${line#*=}"
  done < "$props"
  exit 0
fi
while IFS= read -r line; do
  case $line in "$1="*) printf '%s\n' "${line#*=}"; exit 0 ;; esac
done < "$props"
printf '%s\n' "${2-}"
"""

DUMPSYS_SCRIPT = r"""#!/bin/sh
# dumpsys of the splitbench emulated phone: prints the emulated state of a few services.
dir=/system/etc/dumpsys
if [ $# -eq 0 ] || [ "$1" = "-l" ]; then
  echo "Currently running services:"
  for f in "$dir"/*; do echo "  ${f##*/}"; done
  exit 0
fi
if [ -f "$dir/$1" ]; then
  cat "$dir/$1"
else
  echo "Can't find service: $1" >&2
fi
"""


SETTINGS_SCRIPT = r"""#!/bin/sh
# settings of the splitbench emulated phone: "settings get NAMESPACE KEY" reads
# /system/etc/settings/NAMESPACE/KEY; unknown keys print "null" as Android does.
if [ "${1-}" != get ] || [ $# -lt 3 ]; then
  echo "usage: settings get NAMESPACE KEY (the emulated phone only reads settings)" >&2
  exit 1
fi
f=/system/etc/settings/$2/$3
if [ -f "$f" ]; then cat "$f"; else echo null; fi
"""


def host_abi() -> str:
    """The Android ABI name of this host's CPU (what a phone of the same CPU would report)."""
    machine = platform.machine().lower()
    return _ABI_BY_MACHINE.get(machine, machine)


def _host_cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return "unknown"
    for key in ("model name", "Hardware", "Processor"):
        match = re.search(rf"^{key}\s*:\s*(.+)$", text, re.MULTILINE)
        if match:
            return match.group(1).strip()
    return "unknown"


def _host_cpu_khz() -> int:
    """Maximum frequency of cpu0 in kHz from cpufreq, or the ``cpu MHz`` reading, or 0."""
    cpufreq = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    try:
        return int(cpufreq.read_text().strip())
    except (OSError, ValueError):
        pass
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return 0
    match = re.search(r"^cpu MHz\s*:\s*([0-9.]+)", text, re.MULTILINE)
    return int(float(match.group(1)) * 1000) if match else 0


def _host_governor() -> str:
    try:
        return Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").read_text().strip()
    except OSError:
        return "emulated"


def _host_cores() -> int:
    return os.cpu_count() or 1


@dataclass
class DeviceProfile:
    """What the emulated phone says about itself; battery and thermal values are settable so the
    kit's hygiene checks (cool-down, charging warning) can be exercised."""

    model: str = "splitbench emulated phone"
    manufacturer: str = "splitbench-emulator"
    brand: str = "splitbench"
    product: str = "sbemu"
    device: str = "sbemu"
    hardware: str = "emulated"
    android_release: str = "14"
    sdk: int = 34
    abi: str = ""  # empty: the host's ABI
    battery_level: int = 80
    battery_temp_c: float = 30.0
    cpu_temp_c: float = 35.0
    charging: bool = False
    screen_on: bool = False
    battery_saver: bool = False
    thermal_status: int = 0

    def properties(self, serial: str) -> dict[str, str]:
        """The property list ``getprop`` answers from."""
        abi = self.abi or host_abi()
        return {
            "ro.product.model": self.model,
            "ro.product.manufacturer": self.manufacturer,
            "ro.product.brand": self.brand,
            "ro.product.name": self.product,
            "ro.product.device": self.device,
            "ro.product.board": "emulated",
            "ro.board.platform": "emulated",
            "ro.hardware": self.hardware,
            "ro.soc.manufacturer": "emulated",
            "ro.soc.model": _host_cpu_model(),
            "ro.product.cpu.abi": abi,
            "ro.product.cpu.abilist": abi,
            "ro.build.version.release": self.android_release,
            "ro.build.version.sdk": str(self.sdk),
            "ro.build.type": "user",
            "ro.build.fingerprint": (
                f"{self.brand}/{self.product}/{self.device}:{self.android_release}"
                "/EMULATED/0:user/emulated"
            ),
            "ro.serialno": serial,
            "ro.boot.serialno": serial,
            "ro.splitbench.emulated": "1",
            "sys.boot_completed": "1",
        }


def write_profile(root: Path, serial: str, profile: DeviceProfile) -> None:
    """(Re)write ``<root>/system`` and ``<root>/sys`` from the profile and this host."""
    system = root / "system"
    bindir = system / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    scripts = (
        ("getprop", GETPROP_SCRIPT),
        ("dumpsys", DUMPSYS_SCRIPT),
        ("settings", SETTINGS_SCRIPT),
    )
    for name, text in scripts:
        script = bindir / name
        script.write_text(text)
        script.chmod(0o755)
    props = profile.properties(serial)
    lines = ["# splitbench emulated phone: every value here is emulated or read from the host"]
    lines += [f"{key}={props[key]}" for key in sorted(props)]
    _write(system / "build.prop", "\n".join(lines) + "\n")
    _write_dumpsys(system / "etc" / "dumpsys", profile)
    _write(
        system / "etc" / "settings" / "global" / "low_power",
        ("1" if profile.battery_saver else "0") + "\n",
    )
    _write_sysfs(root / "sys", profile)


def _write(path: Path, text: str) -> None:
    """Write through a temporary name so a concurrent reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _write_dumpsys(directory: Path, p: DeviceProfile) -> None:
    status = 2 if p.charging else 3  # BatteryManager: 2 charging, 3 discharging
    battery = (
        "Current Battery Service state:\n"
        f"  AC powered: false\n  USB powered: {str(p.charging).lower()}\n"
        "  Wireless powered: false\n  Max charging current: 0\n  Max charging voltage: 0\n"
        f"  Charge counter: 0\n  status: {status}\n  health: 2\n  present: true\n"
        f"  level: {p.battery_level}\n  scale: 100\n  voltage: 4000\n"
        f"  temperature: {round(p.battery_temp_c * 10)}\n  technology: emulated\n"
    )
    power = (
        "POWER MANAGER (dumpsys power)\n"
        f"  mWakefulness={'Awake' if p.screen_on else 'Asleep'}\n"
        f"  mIsPowered={str(p.charging).lower()}\n"
        f"  mBatteryLevel={p.battery_level}\n"
        f"  mBatterySaverEnabled={str(p.battery_saver).lower()}\n"
        f"Display Power: state={'ON' if p.screen_on else 'OFF'}\n"
    )
    thermal = (
        "IsStatusOverride: false\n"
        f"Thermal Status: {p.thermal_status}\n"
        "Current temperatures from HAL:\n"
        f"\tTemperature{{mValue={p.cpu_temp_c}, mType=0, mName=cpu-emulated, mStatus=0}}\n"
        f"\tTemperature{{mValue={p.battery_temp_c}, mType=2, mName=battery-emulated, mStatus=0}}\n"
    )
    for name, text in (("battery", battery), ("power", power), ("thermalservice", thermal)):
        _write(directory / name, text)


def _write_sysfs(sys_root: Path, p: DeviceProfile) -> None:
    cores = _host_cores()
    khz = _host_cpu_khz()
    governor = _host_governor()
    cpu_dir = sys_root / "devices" / "system" / "cpu"
    span = f"0-{cores - 1}" if cores > 1 else "0"
    for name in ("possible", "present", "online"):
        _write(cpu_dir / name, span + "\n")
    for n in range(cores):
        cpu = cpu_dir / f"cpu{n}"
        _write(cpu / "online", "1\n")
        host_topology = Path(f"/sys/devices/system/cpu/cpu{n}/topology")
        if host_topology.is_dir() and not (cpu / "topology").exists():
            shutil.copytree(host_topology, cpu / "topology", ignore_dangling_symlinks=True)
        freq = cpu / "cpufreq"
        for name in (
            "cpuinfo_max_freq",
            "scaling_max_freq",
            "scaling_cur_freq",
            "cpuinfo_cur_freq",
        ):
            _write(freq / name, f"{khz}\n")
        for name in ("cpuinfo_min_freq", "scaling_min_freq"):
            _write(freq / name, f"{khz}\n")
        _write(freq / "scaling_governor", governor + "\n")
        _write(freq / "scaling_available_governors", governor + "\n")
        _write(freq / "scaling_available_frequencies", f"{khz}\n")
    zones = (("cpu-emulated", p.cpu_temp_c), ("battery-emulated", p.battery_temp_c))
    for n, (kind, celsius) in enumerate(zones):
        zone = sys_root / "class" / "thermal" / f"thermal_zone{n}"
        _write(zone / "type", kind + "\n")
        _write(zone / "temp", f"{round(celsius * 1000)}\n")
    battery = sys_root / "class" / "power_supply" / "battery"
    _write(battery / "capacity", f"{p.battery_level}\n")
    _write(battery / "temp", f"{round(p.battery_temp_c * 10)}\n")
    _write(battery / "status", ("Charging" if p.charging else "Discharging") + "\n")
    _write(battery / "present", "1\n")
    _write(battery / "technology", "emulated\n")
