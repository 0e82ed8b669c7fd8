import pytest


@pytest.fixture(scope="session")
def session():
    from segctl.session import Session

    return Session.create()


@pytest.fixture
def tiny():
    from segctl.export.testing import tiny_model

    return tiny_model(nc=3, names={0: "circle", 1: "square", 2: "star"})
