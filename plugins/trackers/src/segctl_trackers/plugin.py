"""Entry point of the trackers plugin: registration only, nothing heavy imported."""
from segctl import hookimpl
from segctl.specs import TrackerSpec

_REQ = ("numpy", "scipy", "cv2")
_INSTALL = "pip install numpy scipy lap opencv-python-headless"


@hookimpl
def segctl_register_trackers():
    return [
        TrackerSpec(name="bytetrack", target="segctl_trackers.bytetrack:ByteTrack",
                    config="segctl_trackers:cfg/bytetrack.yaml", aliases=("bytetrack.yaml",),
                    requires=_REQ, install=_INSTALL,
                    description="ByteTrack: two-stage IoU association (high, then low confidence), Kalman motion"),
        TrackerSpec(name="botsort", target="segctl_trackers.botsort:BoTSORT",
                    config="segctl_trackers:cfg/botsort.yaml", aliases=("botsort.yaml",),
                    requires=_REQ, install=_INSTALL,
                    description="BoT-SORT-style: ByteTrack + camera-motion compensation, optional appearance"),
    ]
