"""Ship the top-level templates/ folder inside the wheel as alertcb/templates."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithTemplates(build_py):
    def run(self) -> None:
        super().run()
        src = Path(__file__).parent / "templates"
        dst = Path(self.build_lib) / "alertcb" / "templates"
        for path in src.rglob("*"):
            if path.is_file():
                target = dst / path.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                self.copy_file(str(path), str(target))


setup(cmdclass={"build_py": BuildPyWithTemplates})
