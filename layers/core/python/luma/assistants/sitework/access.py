"""What one signed-in person may see: their worker record and the projects they belong to.

Every lookup goes through :class:`WorkerScope`, built from the caller's tenant and user id (the
linked phone or account, never anything the message says). A project the person is not a member
(or the manager) of is reported exactly like one that does not exist, so ids of other projects and
of other tenants reveal nothing.
"""

from __future__ import annotations

from functools import cached_property

from luma.assistants.sitework.repo import Project, SiteworkRepository, Task, Worker


class NotAWorkerError(LookupError):
    """The account is not a known field worker or manager of this tenant."""


class NotFoundError(LookupError):
    """No such project or task among the caller's."""


class WorkerScope:
    """Reads scoped to one tenant and one user."""

    def __init__(self, repo: SiteworkRepository, tenant_id: str, user_id: str) -> None:
        self.repo = repo
        self.tenant_id = tenant_id
        self.user_id = user_id

    @cached_property
    def worker(self) -> Worker | None:
        return self.repo.get_worker(self.tenant_id, self.user_id)

    def require(self) -> Worker:
        """The caller's worker record; :class:`NotAWorkerError` when there is none."""
        if self.worker is None:
            raise NotAWorkerError(self.user_id)
        return self.worker

    def _member(self, project: Project) -> bool:
        return self.user_id in project.members or self.user_id == project.manager_id

    @cached_property
    def projects(self) -> list[Project]:
        """The caller's projects, in the order of their record (one BatchGetItem)."""
        worker = self.require()
        return [p for p in self.repo.get_projects(self.tenant_id, worker.projects) if self._member(p)]

    def project(self, project_id: str) -> Project:
        """One of the caller's projects; :class:`NotFoundError` for any other id."""
        for project in self.projects:
            if project.project_id == project_id:
                return project
        raise NotFoundError(project_id)

    def tasks(self, project_id: str) -> list[Task]:
        """A project's tasks (after the membership check)."""
        self.project(project_id)
        return self.repo.list_tasks(self.tenant_id, project_id)

    def task(self, task_id: str, project_id: str | None = None) -> Task:
        """One task of the caller's projects (one GetItem with a project id, else one Query per project)."""
        if project_id is not None:
            self.project(project_id)
            found = self.repo.get_task(self.tenant_id, project_id, task_id)
            if found is None:
                raise NotFoundError(task_id)
            return found
        for project in self.projects:
            for task in self.repo.list_tasks(self.tenant_id, project.project_id):
                if task.task_id == task_id:
                    return task
        raise NotFoundError(task_id)

    def can_update(self, task: Task) -> bool:
        """Workers update their own tasks (or unassigned ones); a manager any task of their projects."""
        worker = self.require()
        return worker.role == "manager" or task.assignee in (None, self.user_id)
