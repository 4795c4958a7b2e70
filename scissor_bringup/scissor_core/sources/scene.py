"""A synthetic traffic scene: the embedded default video, deterministic by seed.

A road with lane markings under a sky, and cars of several sizes and colours
driving across at their own speeds. Frame ``k`` of a given seed is always the
same image, so runs, tests and profiles are reproducible without any data set.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Car:
    """One car: lane, size, colour, speed (px/frame), start offset and direction."""

    lane: int
    length: int
    height: int
    color: tuple[int, int, int]
    speed: float
    offset: float
    direction: int


class TrafficScene:
    """Renders BGR frames of a multi-lane road with moving cars."""

    def __init__(self, width: int = 640, height: int = 480, cars: int = 8, lanes: int = 4, seed: int = 0) -> None:
        if width < 64 or height < 64:
            raise ValueError(f"scene must be at least 64x64 pixels, got {width}x{height}")
        if lanes < 1 or cars < 0:
            raise ValueError("a scene needs at least one lane and a non-negative number of cars")
        self.width, self.height, self.lanes = width, height, lanes
        rng = np.random.default_rng(seed)
        self.road_top = height // 3
        self.lane_height = (height - self.road_top) / lanes
        self.cars = [self._random_car(rng) for _ in range(cars)]
        self.background = self._render_background(rng)

    def _random_car(self, rng: np.random.Generator) -> Car:
        lane = int(rng.integers(self.lanes))
        # Lanes nearer the camera (lower in the image) show bigger cars.
        scale = 0.6 + 0.8 * (lane + 1) / self.lanes
        length = int(self.width * rng.uniform(0.08, 0.2) * scale)
        return Car(
            lane=lane,
            length=max(8, length),
            height=max(6, int(self.lane_height * rng.uniform(0.45, 0.75))),
            color=tuple(int(c) for c in rng.integers(30, 240, size=3)),
            speed=float(rng.uniform(2.0, 12.0)),
            offset=float(rng.uniform(0, self.width * 2)),
            direction=1 if lane % 2 == 0 else -1,
        )

    def _render_background(self, rng: np.random.Generator) -> np.ndarray:
        img = np.empty((self.height, self.width, 3), np.uint8)
        sky = np.linspace(235, 170, self.road_top, dtype=np.float32)
        img[: self.road_top] = np.stack([sky, sky * 0.85, sky * 0.6], axis=1)[:, None, :].astype(np.uint8)
        img[self.road_top :] = (70, 70, 70)
        noise = rng.integers(-8, 9, size=(self.height - self.road_top, self.width, 1))
        img[self.road_top :] = np.clip(img[self.road_top :].astype(np.int16) + noise, 0, 255).astype(np.uint8)
        for lane in range(1, self.lanes):
            y = int(self.road_top + lane * self.lane_height)
            for x in range(0, self.width, 40):
                cv2.line(img, (x, y), (x + 20, y), (230, 230, 230), 2)
        return img

    def _car_box(self, car: Car, index: int) -> tuple[int, int, int, int] | None:
        """(x1, y1, x2, y2) of ``car`` in frame ``index``, or None when it is off screen."""
        span = self.width + car.length
        x1 = int((car.offset + car.direction * car.speed * index) % span - car.length)
        y1 = int(self.road_top + car.lane * self.lane_height + (self.lane_height - car.height) / 2)
        if x1 + car.length <= 0 or x1 >= self.width:
            return None
        return x1, y1, x1 + car.length, y1 + car.height

    def car_boxes(self, index: int) -> list[tuple[int, int, int, int]]:
        """Ground-truth (x1, y1, x2, y2) of the cars visible in frame ``index``."""
        return [box for car in self.cars if (box := self._car_box(car, index)) is not None]

    def frame(self, index: int) -> np.ndarray:
        """The BGR uint8 image of frame ``index``."""
        img = self.background.copy()
        for car in self.cars:
            box = self._car_box(car, index)
            if box is None:
                continue
            x1, y1, x2, y2 = box
            cv2.rectangle(img, (x1, y1), (x2, y2), car.color, -1)
            roof_color = tuple(int(c * 0.8) for c in car.color)
            cv2.rectangle(img, (x1 + (x2 - x1) // 4, y1 - (y2 - y1) // 3), (x2 - (x2 - x1) // 4, y1), roof_color, -1)
            r = max(2, (y2 - y1) // 4)
            for wx in (x1 + r + 2, x2 - r - 2):
                cv2.circle(img, (wx, y2), r, (20, 20, 20), -1)
        return img
