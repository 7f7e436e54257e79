"""Packaging for greensup: OTP-style supervision for gevent programs."""

from setuptools import setup

setup(
    name="greensup",
    version="0.1.0",
    description="Erlang/OTP-style processes, GenServers and supervisors for gevent",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=["greensup"],
    package_data={"greensup": ["py.typed"]},
    python_requires=">=3.11",
    install_requires=["gevent>=23.9", "blessed>=1.20"],
    extras_require={
        "test": [
            "pytest>=7.4",
            "pytest-timeout>=2.2",
            "freezegun>=1.4",
            "pyte>=0.8",
            "ruff>=0.5",
            "mypy>=1.8",
            "sphinx>=7",
            "myst-parser>=2",
        ],
        "images": ["Pillow>=10"],
        "docs": ["sphinx>=7", "myst-parser>=2"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: gevent",
    ],
)
