"""What a task is: Task, ParamSpec/ParamSpace and the TaskFamily base class."""
from metarl.tasks.family import TaskFamily
from metarl.tasks.params import ParamSpace, ParamSpec
from metarl.tasks.task import Task

__all__ = ["Task", "ParamSpec", "ParamSpace", "TaskFamily"]
