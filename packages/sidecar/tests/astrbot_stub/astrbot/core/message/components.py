"""STAND-IN for `astrbot/core/message/components.py` (AstrBot v4.27.4).

Same class names, constructors and the async `convert_to_file_path()`; plain classes instead
of pydantic models. Only local paths and file:// URIs resolve (tests make the files).
"""

import os
from enum import Enum
from pathlib import Path
from urllib.parse import unquote, urlparse


class ComponentType(str, Enum):
    Plain = "Plain"
    Image = "Image"
    Record = "Record"
    Video = "Video"
    File = "File"
    Face = "Face"
    At = "At"
    Node = "Node"
    Nodes = "Nodes"
    Poke = "Poke"
    Reply = "Reply"
    Forward = "Forward"
    Json = "Json"
    Unknown = "Unknown"


class BaseMessageComponent:
    type: ComponentType

    def __init__(self, **kwargs) -> None:
        for k, v in kwargs.items():
            setattr(self, k, v)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.__dict__!r})"


def _local_path(source: str) -> str:
    if source.startswith("file://"):
        return unquote(urlparse(source).path)
    return source


class Plain(BaseMessageComponent):
    type = ComponentType.Plain
    text: str

    def __init__(self, text: str, convert: bool = True, **_) -> None:
        super().__init__(text=text, convert=convert, **_)


class Record(BaseMessageComponent):
    type = ComponentType.Record
    file: str | None = ""
    url: str | None = ""
    text: str | None = None
    path: str | None = None

    def __init__(self, file: str | None, **_) -> None:
        super().__init__(file=file, **_)

    @staticmethod
    def fromFileSystem(path, **_):
        file_path = Path(path).resolve(strict=False)
        return Record(file=file_path.as_uri(), path=str(file_path), **_)

    async def convert_to_file_path(self) -> str:
        for source in (self.file, self.url, self.path):
            if source and os.path.exists(_local_path(source)):
                return os.path.abspath(_local_path(source))
        raise Exception(f"not a valid file: {self.file}")


class Image(BaseMessageComponent):
    type = ComponentType.Image
    file: str | None = ""
    url: str | None = ""
    path: str | None = ""

    def __init__(self, file: str | None, **_) -> None:
        super().__init__(file=file, **_)

    @staticmethod
    def fromURL(url: str, **_):
        return Image(file=url, **_)

    @staticmethod
    def fromFileSystem(path, **_):
        return Image(file=Path(path).resolve(strict=False).as_uri(), path=str(path), **_)

    async def convert_to_file_path(self) -> str:
        for source in (self.url, self.file, self.path):
            if source and os.path.exists(_local_path(source)):
                return os.path.abspath(_local_path(source))
        raise Exception(f"not a valid file: {self.file}")


class File(BaseMessageComponent):
    type = ComponentType.File

    def __init__(self, name: str, file: str = "", url: str = "") -> None:
        super().__init__(name=name, file_=file, url=url)


class At(BaseMessageComponent):
    type = ComponentType.At
    qq: int | str
    name: str | None = ""

    def __init__(self, **_) -> None:
        super().__init__(**_)


class Reply(BaseMessageComponent):
    type = ComponentType.Reply
    id: str | int
    chain: list | None = None

    def __init__(self, **_) -> None:
        super().__init__(**_)


__all__ = [
    "At",
    "BaseMessageComponent",
    "ComponentType",
    "File",
    "Image",
    "Plain",
    "Record",
    "Reply",
]
