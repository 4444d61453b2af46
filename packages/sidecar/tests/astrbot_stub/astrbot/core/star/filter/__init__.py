"""STAND-IN for `astrbot/core/star/filter/__init__.py` (AstrBot v4.27.4)."""

import abc


class HandlerFilter(abc.ABC):
    @abc.abstractmethod
    def filter(self, event, cfg) -> bool:
        raise NotImplementedError
