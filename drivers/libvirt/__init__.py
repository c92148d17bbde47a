from .driver import LibvirtDriver

__all__ = ["LibvirtDriver"]
