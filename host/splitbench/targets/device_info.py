"""What a phone says about itself: identity, CPU, battery, thermal state, free space.

Why one shell script and text parsers: every fact is read with the commands any Android phone
has (``getprop``, ``/sys`` files, ``dumpsys``, ``df``), in one adb round trip, and each section
is parsed by a small pure function that is tested on its own. A fact that cannot be read stays
``None`` and is shown as "unknown" — never guessed — because a wrong governor or temperature
next to a timing is worse than none.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from splitbench.units import GB

UNKNOWN = "unknown"

#: ``PowerManager.THERMAL_STATUS_*`` (Android 10+), as printed by ``dumpsys thermalservice``.
THERMAL_STATUS = {
    0: "none",
    1: "light",
    2: "moderate",
    3: "severe",
    4: "critical",
    5: "emergency",
    6: "shutdown",
}

#: ``BatteryManager.BATTERY_STATUS_*``.
BATTERY_STATUS = {1: "unknown", 2: "charging", 3: "discharging", 4: "not charging", 5: "full"}

_SECTIONS = ("getprop", "cpus", "battery", "power", "lowpower", "thermal", "zones", "df")


def facts_script(device_dir: str) -> str:
    """The one shell command that prints every section; missing tools print nothing."""
    return "\n".join(
        [
            "echo @@getprop; getprop 2>/dev/null",
            "echo @@cpus",
            'for c in /sys/devices/system/cpu/cpu[0-9]*; do [ -d "$c" ] || continue;'
            " f=$c/cpufreq;"
            ' echo "${c##*/} $(cat $f/cpuinfo_max_freq 2>/dev/null || echo -)'
            " $(cat $f/scaling_governor 2>/dev/null || echo -)"
            ' $(cat $c/online 2>/dev/null || echo -)"; done',
            "echo @@battery; dumpsys battery 2>/dev/null",
            "echo @@power; dumpsys power 2>/dev/null | grep -E"
            " 'mWakefulness=|Display Power|mBatterySaverEnabled|mLowPowerModeEnabled|mIsPowered'",
            "echo @@lowpower; settings get global low_power 2>/dev/null",
            "echo @@thermal; dumpsys thermalservice 2>/dev/null | head -n 40",
            "echo @@zones",
            'for z in /sys/class/thermal/thermal_zone*; do [ -r "$z/temp" ] || continue;'
            ' echo "$(cat $z/type 2>/dev/null || echo -) $(cat $z/temp 2>/dev/null || echo -)";'
            " done",
            "echo @@df",
            f'd={shlex.quote(device_dir)}; while [ ! -d "$d" ]; do d=${{d%/*}};'
            ' [ -n "$d" ] || d=/; done; df -k "$d" 2>/dev/null || df "$d" 2>/dev/null',
            "echo @@end",
        ]
    )


def split_sections(text: str) -> dict[str, str]:
    """``@@name`` markers → section texts."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("@@") and stripped[2:] in (*_SECTIONS, "end"):
            current = sections.setdefault(stripped[2:], [])
            continue
        if current is not None:
            current.append(line)
    return {name: "\n".join(lines) for name, lines in sections.items()}


def parse_getprop(text: str) -> dict[str, str]:
    """``[key]: [value]`` lines of ``getprop`` (no argument) → dict."""
    props: dict[str, str] = {}
    for match in re.finditer(r"^\[([^\]]+)\]: \[(.*)\]\s*$", text, re.MULTILINE):
        props[match.group(1)] = match.group(2)
    return props


@dataclass(frozen=True)
class CoreFacts:
    """One CPU core as sysfs shows it; None where the file is missing (e.g. an offline core)."""

    name: str  # "cpu0"
    max_khz: int | None
    governor: str | None
    online: bool | None


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def parse_cpus(text: str) -> list[CoreFacts]:
    cores: list[CoreFacts] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 4 or not re.fullmatch(r"cpu\d+", parts[0]):
            continue
        name, khz, governor, online = parts
        cores.append(
            CoreFacts(
                name=name,
                max_khz=_int_or_none(khz),
                governor=None if governor == "-" else governor,
                online=None if online == "-" else online == "1",
            )
        )
    return sorted(cores, key=lambda c: int(c.name[3:]))


@dataclass(frozen=True)
class BatteryFacts:
    level: int | None = None  # percent
    temp_c: float | None = None
    status: str | None = None
    powered_by: tuple[str, ...] = ()  # "AC", "USB", "Wireless"

    @property
    def charging(self) -> bool | None:
        if self.status is None and not self.powered_by:
            return None
        return self.status in ("charging", "full") or bool(self.powered_by)


def parse_battery(text: str) -> BatteryFacts:
    """``dumpsys battery`` (BatteryService's dump: ``  level: 85``, ``  temperature: 281`` in
    tenths of a degree, ``  status: 2``, ``  USB powered: true``)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            values.setdefault(key.strip().lower(), value.strip())
    if not values:
        return BatteryFacts()
    level = _int_or_none(values.get("level", ""))
    scale = _int_or_none(values.get("scale", ""))
    if level is not None and scale and scale != 100:
        level = round(level * 100 / scale)
    temp = _int_or_none(values.get("temperature", ""))
    status_code = _int_or_none(values.get("status", ""))
    powered = tuple(
        kind
        for kind in ("AC", "USB", "Wireless", "Dock")
        if values.get(f"{kind.lower()} powered") == "true"
    )
    return BatteryFacts(
        level=level,
        temp_c=temp / 10 if temp is not None else None,
        status=BATTERY_STATUS.get(status_code) if status_code is not None else None,
        powered_by=powered,
    )


@dataclass(frozen=True)
class PowerFacts:
    screen_on: bool | None = None
    battery_saver: bool | None = None


def parse_power(power_text: str, low_power_setting: str) -> PowerFacts:
    """``dumpsys power`` lines (``mWakefulness=Awake``, ``Display Power: state=ON``,
    ``mBatterySaverEnabled=true``) and ``settings get global low_power`` (1/0/null)."""
    screen: bool | None = None
    if m := re.search(r"mWakefulness=(\w+)", power_text):
        screen = m.group(1) == "Awake"
    elif m := re.search(r"Display Power: state=(\w+)", power_text):
        screen = m.group(1) == "ON"
    saver: bool | None = None
    if m := re.search(r"(?:mBatterySaverEnabled|mLowPowerModeEnabled)=(\w+)", power_text):
        saver = m.group(1) == "true"
    setting = low_power_setting.strip()
    if setting in ("0", "1"):
        saver = bool(saver) or setting == "1"
    return PowerFacts(screen_on=screen, battery_saver=saver)


@dataclass(frozen=True)
class ThermalFacts:
    status: str | None = None  # from the thermal service (Android 10+)
    hottest_zone: str | None = None
    hottest_c: float | None = None


def _zone_celsius(raw: str) -> float | None:
    value = _int_or_none(raw)
    if value is None or value <= 0:
        return None  # disabled or absent sensors read 0 or negative
    return value / 1000 if value >= 1000 else float(value)


def parse_thermal(service_text: str, zones_text: str) -> ThermalFacts:
    status: str | None = None
    if m := re.search(r"Thermal Status: (\d+)", service_text):
        code = int(m.group(1))
        status = THERMAL_STATUS.get(code, f"status {code}")
    hottest: tuple[str, float] | None = None
    for line in zones_text.splitlines():
        kind, _, raw = line.strip().rpartition(" ")
        celsius = _zone_celsius(raw)
        if celsius is not None and (hottest is None or celsius > hottest[1]):
            hottest = (kind or "?", celsius)
    return ThermalFacts(
        status=status,
        hottest_zone=hottest[0] if hottest else None,
        hottest_c=hottest[1] if hottest else None,
    )


_SIZE_SUFFIX = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_df_free(text: str) -> int | None:
    """Free bytes from ``df -k DIR`` (toybox/coreutils/busybox: an ``Available`` column in KiB)
    or the old toolbox ``df DIR`` (a ``Free`` column with K/M/G suffixes)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2:
        return None
    header = lines[0].replace("Mounted on", "Mounted_on").split()
    column = next(
        (i for i, h in enumerate(header) if h.lower() in ("available", "avail", "free")), None
    )
    if column is None:
        return None
    tokens = " ".join(lines[1:]).split()  # long device names may wrap onto their own line
    if len(tokens) < len(header):
        return None
    value = tokens[len(tokens) - len(header) + column]
    if m := re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", value):
        number, suffix = float(m.group(1)), m.group(2)
        # a bare number is KiB (we ask for -k); toolbox's df always prints a unit suffix
        return int(number * (_SIZE_SUFFIX[suffix] if suffix else 1024))
    return None


@dataclass
class DeviceFacts:
    """Everything ``splitbench devices`` shows and every run records. ``None`` = unknown."""

    serial: str
    state: str = "device"  # adb's state: device, unauthorized, offline
    model: str | None = None
    manufacturer: str | None = None
    hardware: str | None = None  # ro.hardware
    board_platform: str | None = None  # ro.board.platform
    soc_model: str | None = None  # ro.soc.model (Android 12+)
    abi: str | None = None
    abilist: tuple[str, ...] = ()
    android_release: str | None = None
    sdk: int | None = None
    cores: list[CoreFacts] = field(default_factory=list)
    battery: BatteryFacts = field(default_factory=BatteryFacts)
    power: PowerFacts = field(default_factory=PowerFacts)
    thermal: ThermalFacts = field(default_factory=ThermalFacts)
    free_bytes: int | None = None
    device_dir: str = ""
    emulated: bool = False  # the kit's emulated phone (ro.splitbench.emulated=1)
    props: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def soc(self) -> str | None:
        """The best name of the chip: SoC model, else board platform, else ro.hardware."""
        return self.soc_model or self.board_platform or self.hardware

    @property
    def governors(self) -> list[str]:
        return sorted({c.governor for c in self.cores if c.governor})

    def warnings(self) -> list[str]:
        """Conditions that make timings unstable, each one line naming the phone."""
        out: list[str] = []
        if self.battery.charging:
            via = "/".join(self.battery.powered_by) or "charger"
            out.append(
                f"phone {self.serial} is charging ({via} powered): charging heats the phone and "
                "changes CPU frequencies; timings may drift"
            )
        if self.power.battery_saver:
            out.append(
                f"phone {self.serial} is in battery saver mode: CPUs are throttled, timings are "
                "not representative"
            )
        if self.power.screen_on:
            out.append(
                f"phone {self.serial} has its screen on: the display and UI compete for the CPU; "
                "turn the screen off for stable timings"
            )
        if self.thermal.status not in (None, "none"):
            out.append(f"phone {self.serial} reports thermal status '{self.thermal.status}'")
        return out

    def as_extra(self) -> dict[str, str]:
        """Flat strings for :class:`~splitbench.targets.base.TargetInfo.extra` and the DB."""

        def s(value: object) -> str:
            return UNKNOWN if value is None else str(value)

        extra = {
            "serial": self.serial,
            "model": s(self.model),
            "manufacturer": s(self.manufacturer),
            "hardware": s(self.hardware),
            "board_platform": s(self.board_platform),
            "soc_model": s(self.soc_model),
            "abi": s(self.abi),
            "abilist": ",".join(self.abilist) or UNKNOWN,
            "android_release": s(self.android_release),
            "sdk": s(self.sdk),
            "cpu_max_khz": ",".join(s(c.max_khz) for c in self.cores) or UNKNOWN,
            "governor": ",".join(self.governors) or UNKNOWN,
            "battery_level_pct": s(self.battery.level),
            "battery_temp_c": s(self.battery.temp_c),
            "battery_status": s(self.battery.status),
            "charging": s(self.battery.charging),
            "battery_saver": s(self.power.battery_saver),
            "screen_on": s(self.power.screen_on),
            "thermal_status": s(self.thermal.status),
            "hottest_zone_c": s(self.thermal.hottest_c),
            "free_bytes": s(self.free_bytes),
            "device_dir": self.device_dir,
            "emulated": str(self.emulated),
        }
        if self.emulated:
            extra["note"] = "emulated phone: commands run on the host; not a phone measurement"
        return extra

    def as_rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for ``splitbench devices``, every unknown spelled out."""

        def s(value: object, unit: str = "") -> str:
            return UNKNOWN if value is None else f"{value}{unit}"

        freqs = ", ".join(
            f"{c.name} {c.max_khz / 1e6:.2f} GHz" if c.max_khz else f"{c.name} {UNKNOWN}"
            for c in self.cores
        )
        free = f"{self.free_bytes / GB:.2f} GB" if self.free_bytes is not None else UNKNOWN
        release = s(self.android_release)
        return [
            ("serial", self.serial),
            ("state", self.state),
            ("model", " ".join(v for v in (self.manufacturer, self.model) if v) or UNKNOWN),
            (
                "hardware / SoC",
                " / ".join(s(v) for v in (self.hardware, self.board_platform, self.soc_model)),
            ),
            ("ABI", ",".join(self.abilist) or s(self.abi)),
            ("Android", f"{release} (SDK {s(self.sdk)})"),
            ("cores", f"{len(self.cores) or UNKNOWN}: {freqs or UNKNOWN}"),
            ("governor", ", ".join(self.governors) or UNKNOWN),
            (
                "battery",
                f"{s(self.battery.level, ' %')}, {s(self.battery.temp_c, ' °C')}, "
                f"{s(self.battery.status)}",
            ),
            (
                "thermal",
                f"status {s(self.thermal.status)}; hottest zone "
                f"{s(self.thermal.hottest_c, ' °C')} ({s(self.thermal.hottest_zone)})",
            ),
            (f"free in {self.device_dir}", free),
            ("emulated", "yes" if self.emulated else "no"),
        ]


def facts_from_text(serial: str, text: str, device_dir: str) -> DeviceFacts:
    """Build the facts from the output of :func:`facts_script`."""
    sec = split_sections(text)
    props = parse_getprop(sec.get("getprop", ""))

    def prop(key: str) -> str | None:
        value = props.get(key, "").strip()
        return value or None

    abilist = tuple(a for a in (prop("ro.product.cpu.abilist") or "").split(",") if a)
    abi = prop("ro.product.cpu.abi") or (abilist[0] if abilist else None)
    sdk = prop("ro.build.version.sdk")
    return DeviceFacts(
        serial=serial,
        model=prop("ro.product.model"),
        manufacturer=prop("ro.product.manufacturer"),
        hardware=prop("ro.hardware"),
        board_platform=prop("ro.board.platform"),
        soc_model=prop("ro.soc.model"),
        abi=abi,
        abilist=abilist or ((abi,) if abi else ()),
        android_release=prop("ro.build.version.release"),
        sdk=_int_or_none(sdk) if sdk else None,
        cores=parse_cpus(sec.get("cpus", "")),
        battery=parse_battery(sec.get("battery", "")),
        power=parse_power(sec.get("power", ""), sec.get("lowpower", "")),
        thermal=parse_thermal(sec.get("thermal", ""), sec.get("zones", "")),
        free_bytes=parse_df_free(sec.get("df", "")),
        device_dir=device_dir,
        emulated=prop("ro.splitbench.emulated") == "1",
        props=props,
    )


def collect_facts(run: Callable[[str], str], serial: str, device_dir: str) -> DeviceFacts:
    """Run :func:`facts_script` through ``run`` (a shell on the phone) and parse it."""
    return facts_from_text(serial, run(facts_script(device_dir)), device_dir)
