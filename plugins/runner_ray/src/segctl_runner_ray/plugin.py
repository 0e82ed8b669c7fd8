"""Entry point of the Ray runner plugin: one spec, nothing imported (Ray loads only when a run starts)."""
from segctl import hookimpl
from segctl.specs import RunnerSpec

INSTALL = 'pip install "ray[data]" pyarrow   # or: pip install "segctl[ray]"'


@hookimpl
def segctl_register_runners():
    return [RunnerSpec(
        name="ray", target="segctl_runner_ray.runner:RayRunner", modes=("predict", "val"),
        requires=("ray", "pyarrow"), install=INSTALL,
        description="a Ray cluster (Ray Data): CPU decode tasks, an inference actor pool, resumable output",
    )]
