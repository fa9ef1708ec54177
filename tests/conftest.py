"""Fixtures shared by the tests in this folder."""
import matplotlib.pyplot as plt
import pytest


@pytest.fixture(autouse=True)
def close_figures():
    """Widgets open figures; close them after each test so a long run never piles them up."""
    yield
    plt.close("all")
