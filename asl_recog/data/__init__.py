"""Sign Language MNIST: labels, validated loaders, images cut to the hand, the grouped split and augmentation."""

from __future__ import annotations

from asl_recog.data._augment import augment
from asl_recog.data._dataset import SignMnistDataset, load_sign_mnist
from asl_recog.data._hands import HandBox
from asl_recog.data._images import image_to_array, image_to_array_and_hand, locate_hand
from asl_recog.data._labels import LABELS, LETTERS, NUM_CLASSES, labels_to_letters, letters_to_labels
from asl_recog.data._split import train_validation_split

__all__ = [
    "LABELS",
    "LETTERS",
    "NUM_CLASSES",
    "HandBox",
    "SignMnistDataset",
    "augment",
    "image_to_array",
    "image_to_array_and_hand",
    "labels_to_letters",
    "letters_to_labels",
    "load_sign_mnist",
    "locate_hand",
    "train_validation_split",
]
