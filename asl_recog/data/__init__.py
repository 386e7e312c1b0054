"""Sign Language MNIST: labels, validated loaders, images, the grouped split and augmentation."""

from __future__ import annotations

from asl_recog.data._augment import augment
from asl_recog.data._dataset import SignMnistDataset, load_sign_mnist
from asl_recog.data._images import image_to_array
from asl_recog.data._labels import LABELS, LETTERS, NUM_CLASSES, labels_to_letters, letters_to_labels
from asl_recog.data._split import train_validation_split

__all__ = [
    "LABELS",
    "LETTERS",
    "NUM_CLASSES",
    "SignMnistDataset",
    "augment",
    "image_to_array",
    "labels_to_letters",
    "letters_to_labels",
    "load_sign_mnist",
    "train_validation_split",
]
