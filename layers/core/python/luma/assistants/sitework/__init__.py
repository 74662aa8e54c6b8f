"""The field-work assistant: projects, tasks, documents, incidents and progress for construction crews."""

from luma.assistants.sitework.pack import SiteworkPack

__all__ = ["SiteworkPack"]
