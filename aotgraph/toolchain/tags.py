"""The wheel tags of a built extension: `cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64` when it qualifies.

PyPI refuses ``linux_x86_64`` wheels. A Linux wheel may say ``manylinux_2_X`` when its binary needs no
shared library beyond the few every glibc system has (PEP 600's policy) and no glibc symbol newer than
2.X. We read both facts from the ELF file itself (its DT_NEEDED entries and the GLIBC_x.y versions of
its .gnu.version_r section), as `auditwheel show` does, so no tool beyond Python is needed. Tags older
than manylinux_2_17 (manylinux2014) are not claimed: pip has understood 2_17 since 2019 and older
glibcs cannot run current numpy anyway.
"""

from __future__ import annotations

import platform
import struct
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

# PEP 600 / auditwheel's policy: libraries a manylinux wheel may link against without bundling them
MANYLINUX_LIBRARIES = frozenset({
    "libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libpthread.so.0", "libgcc_s.so.1", "libutil.so.1",
    "libcrypt.so.1", "libnsl.so.1", "libz.so.1", "libexpat.so.1",
    "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "libresolv.so.2",
})
# libstdc++ is left out: generated modules are C, and we do not check its symbol versions against the policy
OLDEST_GLIBC = (2, 17)
NEWEST_LIBGCC = (4, 8)  # GCC_x.y symbol versions of libgcc_s that manylinux2014's toolchain has
LEGACY_ALIASES = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
_DT_NEEDED, _DT_STRTAB_SECTION = 1, ".dynstr"


@dataclass(frozen=True)
class ElfNeeds:
    """What a shared object needs from the system: libraries (DT_NEEDED) and symbol versions per library."""

    libraries: tuple[str, ...]
    versions: dict[str, tuple[str, ...]]

    def newest(self, prefix: str) -> tuple[int, int]:
        """The newest symbol version `prefix`x.y needed, e.g. prefix 'GLIBC_' ((0, 0) if none)."""
        found = [(0, 0)]
        for names in self.versions.values():
            for name in names:
                number = name[len(prefix):]
                if name.startswith(prefix) and number.replace(".", "").isdigit():
                    found.append(tuple(int(part) for part in number.split(".")[:2]))
        return max(found)


def read_elf_needs(path: str | Path) -> ElfNeeds:
    """Parse the dynamic section and version needs of the 64- or 32-bit little/big-endian ELF `path`."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF":
        raise ValueError(f"{path} is not an ELF file")
    wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
    header = struct.unpack_from(order + ("QQQIHHHHHH" if wide else "IIIIHHHHHH"), data, 24)
    shoff, shentsize, shnum, shstrndx = header[2], header[7], header[8], header[9]
    section_format = order + ("IIQQQQIIQQ" if wide else "IIIIIIIIII")
    sections = [struct.unpack_from(section_format, data, shoff + i * shentsize) for i in range(shnum)]
    names_at = sections[shstrndx][4]

    def cstring(offset: int) -> str:
        return data[offset:data.index(b"\0", offset)].decode("ascii", "replace")

    by_name = {cstring(names_at + s[0]): s for s in sections}
    dynstr = by_name[_DT_STRTAB_SECTION][4] if _DT_STRTAB_SECTION in by_name else None
    if dynstr is None:
        return ElfNeeds((), {})
    libraries = []
    if ".dynamic" in by_name:
        _, _, _, _, offset, size, *_ = by_name[".dynamic"]
        entry = "qQ" if wide else "iI"
        step = struct.calcsize(order + entry)
        for at in range(offset, offset + size, step):
            tag, value = struct.unpack_from(order + entry, data, at)
            if tag == 0:
                break
            if tag == _DT_NEEDED:
                libraries.append(cstring(dynstr + value))
    versions: dict[str, list[str]] = {}
    if ".gnu.version_r" in by_name:
        at = by_name[".gnu.version_r"][4]
        while True:  # Verneed: vn_version, vn_cnt, vn_file, vn_aux, vn_next
            _, count, file_name, aux, following = struct.unpack_from(order + "HHIII", data, at)
            names = versions.setdefault(cstring(dynstr + file_name), [])
            aux_at = at + aux
            for _ in range(count):  # Vernaux: vna_hash, vna_flags, vna_other, vna_name, vna_next
                _, _, _, name, aux_next = struct.unpack_from(order + "IHHII", data, aux_at)
                names.append(cstring(dynstr + name))
                aux_at += aux_next
            if not following:
                break
            at += following
    return ElfNeeds(tuple(libraries), {lib: tuple(names) for lib, names in versions.items()})


def python_tag() -> str:
    """``cp311-cp311`` for this interpreter (the ABI tag carries its flags: ``cp313-cp313t``)."""
    version = f"{sys.version_info.major}{sys.version_info.minor}"
    prefix = "cp" if sys.implementation.name == "cpython" else sys.implementation.name[:2]
    return f"{prefix}{version}-{prefix}{version}{getattr(sys, 'abiflags', '')}"


def platform_tags(extension: str | Path) -> tuple[list[str], str]:
    """(platform tags of a wheel holding `extension`, why it is not manylinux or '').

    On Linux with glibc: ``['manylinux_2_17_x86_64', 'manylinux2014_x86_64']`` or newer, when the
    extension qualifies. Elsewhere (or when it links another library): this platform's own tag.
    """
    plain = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    if not sys.platform.startswith("linux"):
        return [plain], "not Linux"
    libc, _ = platform.libc_ver()
    if libc != "glibc":
        return [plain], f"the C library is {libc or 'not glibc'}"
    needs = read_elf_needs(extension)
    foreign = sorted(lib for lib in needs.libraries if lib not in MANYLINUX_LIBRARIES)
    if foreign:
        return [plain], f"it links {', '.join(foreign)}, which manylinux systems need not have"
    if needs.newest("GCC_") > NEWEST_LIBGCC:
        return [plain], "it needs libgcc_s symbols newer than manylinux2014's"
    arch = plain.partition("_")[2]  # linux_x86_64 -> x86_64
    glibc = max(needs.newest("GLIBC_"), OLDEST_GLIBC)
    tags = [f"manylinux_{glibc[0]}_{glibc[1]}_{arch}"]
    if glibc in LEGACY_ALIASES:
        tags.append(f"{LEGACY_ALIASES[glibc]}_{arch}")
    return tags, ""
