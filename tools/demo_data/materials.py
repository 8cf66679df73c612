"""What a generated surface is: its raw SemanticKITTI class and its mean remission.

The raw ids are looked up by their official names in the library's label map, so the generator
cannot drift from the ids the reader maps to train classes.
"""

from pointcept.datasets.label_maps import SEMANTIC_KITTI_RAW_IDS as _RAW

OUTLIER, CAR, BICYCLE = _RAW["outlier"], _RAW["car"], _RAW["bicycle"]
TRUCK, OTHER_VEHICLE, MOVING_CAR = _RAW["truck"], _RAW["other-vehicle"], _RAW["moving-car"]
PERSON, BICYCLIST = _RAW["person"], _RAW["bicyclist"]
ROAD, PARKING, SIDEWALK = _RAW["road"], _RAW["parking"], _RAW["sidewalk"]
OTHER_GROUND, LANE_MARKING, TERRAIN = _RAW["other-ground"], _RAW["lane-marking"], _RAW["terrain"]
BUILDING, FENCE, VEGETATION, TRUNK = _RAW["building"], _RAW["fence"], _RAW["vegetation"], _RAW["trunk"]
POLE, TRAFFIC_SIGN, OTHER_OBJECT = _RAW["pole"], _RAW["traffic-sign"], _RAW["other-object"]

# Mean remission per raw id (retro-reflective signs and lane paint bright, asphalt and tyres dark).
REMISSION = {
    ROAD: 0.22, LANE_MARKING: 0.65, PARKING: 0.26, SIDEWALK: 0.32, OTHER_GROUND: 0.3, TERRAIN: 0.38,
    BUILDING: 0.3, FENCE: 0.28, VEGETATION: 0.42, TRUNK: 0.3, POLE: 0.35, TRAFFIC_SIGN: 0.85,
    CAR: 0.3, MOVING_CAR: 0.3, TRUCK: 0.35, OTHER_VEHICLE: 0.35, PERSON: 0.28, BICYCLE: 0.25,
    BICYCLIST: 0.27, OTHER_OBJECT: 0.2, OUTLIER: 0.1,
}  # fmt: skip
