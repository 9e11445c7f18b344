"""MuJoCo's warnings reach Python's `warnings`, except one about Gymnasium's own HalfCheetah."""

import warnings

import mujoco

from envs.make import make_env


def test_halfcheetah_makes_no_deprecation_warning_and_other_warnings_pass():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_env("halfcheetah").close()
        mujoco.get_mju_user_warning()("Nan, Inf or huge value in QACC at DOF 0")
    messages = [str(warning.message) for warning in caught]
    assert not [message for message in messages if "settotalmass" in message]
    assert "MuJoCo: Nan, Inf or huge value in QACC at DOF 0" in messages
