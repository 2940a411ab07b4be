"""Storage backends of the log algorithm: ``_delta_log`` read with plain Python
(``"local"``) or through the session's Hadoop ``FileSystem`` over Py4J (``"hadoop"``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kindling_core.spark.probe._types import _Failed, _Missing

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = ["_LocalLog", "_HadoopFs", "_HadoopLog", "_java_error"]


def _local_path_of(location: str) -> str:
    path = location.removeprefix("file:")
    if path.startswith("//"):  # file:///abs/path
        path = path[2:]
        if not path.startswith("/"):  # file://host/path: not ours
            raise ValueError(location)
    return os.path.abspath(path)


class _LocalLog:
    """``_delta_log`` of a table on the local filesystem, read with plain Python."""

    name = "local"

    def __init__(self, location: str) -> None:
        self.table = _local_path_of(location)
        self.log = os.path.join(self.table, "_delta_log")

    def list_names(self) -> list[str]:
        try:
            with os.scandir(self.log) as entries:
                return [entry.name for entry in entries]
        except FileNotFoundError:
            if os.path.isfile(self.table):
                raise _Failed(f"{self.table} is a file, not a table directory") from None
            raise _Missing() from None
        except NotADirectoryError:
            what = self.table if os.path.isfile(self.table) else self.log
            raise _Failed(f"{what} is a file, not a directory") from None
        except OSError as exc:
            raise _Failed(f"cannot list {self.log}: {exc.strerror or exc}") from None

    def read(self, name: str) -> bytes | None:
        path = os.path.join(self.log, name)
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _Failed(f"cannot read {path}: {exc.strerror or exc}") from None

    def mtime_ms(self, name: str) -> int | None:
        try:
            return os.stat(os.path.join(self.log, name)).st_mtime_ns // 1_000_000
        except FileNotFoundError:
            return None


class _HadoopFs:
    """The session's Hadoop filesystem access, shared by the tables of one probe.

    Java classes and ``FileSystem`` instances (per scheme and authority) are looked up once:
    every Py4J attribute or call is a round trip to the JVM.
    """

    def __init__(self, spark: SparkSession) -> None:
        # Classic sessions only (the caller picks the "history" backend on Connect): the py4j
        # gateway and the JavaSparkContext are there; pyspark types them as optional.
        jvm: Any = spark._jvm
        jsc: Any = spark._jsc
        self.conf = jsc.hadoopConfiguration()
        self.Path = jvm.org.apache.hadoop.fs.Path
        self.stat2Paths = jvm.org.apache.hadoop.fs.FileUtil.stat2Paths
        self.array_to_string = jvm.org.apache.commons.lang3.ArrayUtils.toString
        self.to_byte_array = jvm.org.apache.commons.io.IOUtils.toByteArray
        self._filesystems: dict[tuple[str, str], Any] = {}

    def filesystem(self, location: str, path: Any) -> Any:
        parts = urlsplit(location) if "://" in location or location.startswith("file:") else None
        key = (parts.scheme.lower(), parts.netloc) if parts else ("", "")
        fs = self._filesystems.get(key)
        if fs is None:
            fs = self._filesystems[key] = path.getFileSystem(self.conf)
        return fs


def _java_error(exc: BaseException) -> tuple[str, str]:
    """``(java class name, message)`` of a Py4J Java error, or the Python type and text."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            return str(java.getClass().getName()), str(java.getMessage())
        except Exception:  # noqa: BLE001 # pragma: no cover - broken gateway
            pass
    return type(exc).__name__, str(exc)


_FNF = ("java.io.FileNotFoundException",)


class _HadoopLog:
    """``_delta_log`` of a table read through the session's Hadoop ``FileSystem`` (Py4J).

    Listing a directory costs three round trips whatever its size: ``listStatus``,
    ``FileUtil.stat2Paths`` and one ``ArrayUtils.toString`` that returns every path in one
    string. Reading a file costs four (path, open, read, close), a modification time three.
    """

    name = "hadoop"

    def __init__(self, hfs: _HadoopFs, location: str) -> None:
        self.hfs = hfs
        self.location = location
        self.log_text = location.rstrip("/") + "/_delta_log"
        self.log_path = hfs.Path(self.log_text)
        self.fs = hfs.filesystem(location, self.log_path)

    def list_names(self) -> list[str]:
        try:
            statuses = self.fs.listStatus(self.log_path)
        except Exception as exc:  # noqa: BLE001 - any Py4J error, classified by its Java class
            cls, msg = _java_error(exc)
            if cls in _FNF:
                if self._is_file(self.hfs.Path(self.location)):
                    raise _Failed(f"{self.location} is a file, not a table directory") from None
                raise _Missing() from None
            raise _Failed(f"cannot list {self.log_text}: {cls}: {msg}") from None
        paths = self.hfs.stat2Paths(statuses)
        # One string "{<dir>/<n1>,<dir>/<n2>,...}" (ArrayUtils.toString takes an Object, which
        # Py4J can match; it cannot pass a Path[] as Object[]). Split on the shared directory
        # prefix -- names never contain "/" -- so names or directories containing "," survive.
        text = str(self.hfs.array_to_string(paths))[1:-1]
        if not text:
            return []
        cut = text.find("/_delta_log/")
        prefix = text[: cut + len("/_delta_log/")] if cut >= 0 else None
        if prefix is None or not text.startswith(prefix) or "/" in text[len(prefix) :].replace("," + prefix, ""):
            # The table path itself contains "/_delta_log/": ask for the parent (one more trip).
            prefix = str(paths[0].getParent().toString()).rstrip("/") + "/"
        names = text[len(prefix) :].split("," + prefix)
        if names == ["_delta_log"] and statuses[0].isFile():
            # listStatus on a *file* returns that file itself: _delta_log is not a directory.
            raise _Failed(f"{self.log_text} is a file, not a directory")
        return names

    def _is_file(self, path: Any) -> bool:
        try:
            return bool(self.fs.getFileStatus(path).isFile())
        except Exception:  # noqa: BLE001 - unreadable counts as not a file
            return False

    def read(self, name: str) -> bytes | None:
        where = f"{self.log_text}/{name}"
        try:
            stream = self.fs.open(self.hfs.Path(where))
        except Exception as exc:  # noqa: BLE001 - any Py4J error, classified by its Java class
            cls, msg = _java_error(exc)
            if cls in _FNF and "directory" not in msg.lower():
                return None  # listed, then removed (log cleanup racing the probe)
            raise _Failed(f"cannot read {where}: {cls}: {msg}") from None
        try:
            return bytes(self.hfs.to_byte_array(stream))
        except Exception as exc:  # noqa: BLE001 - any Py4J error becomes _Failed
            cls, msg = _java_error(exc)
            raise _Failed(f"cannot read {where}: {cls}: {msg}") from None
        finally:
            try:
                stream.close()
            except Exception:  # noqa: BLE001 # pragma: no cover - closing after a failed read
                pass

    def mtime_ms(self, name: str) -> int | None:
        where = f"{self.log_text}/{name}"
        try:
            return int(self.fs.getFileStatus(self.hfs.Path(where)).getModificationTime())
        except Exception as exc:  # noqa: BLE001 - any Py4J error, classified by its Java class
            cls, msg = _java_error(exc)
            if cls in _FNF:
                return None
            raise _Failed(f"cannot stat {where}: {cls}: {msg}") from None
