"""Machine images for scenario instances, Windows included.

moto gap filled: `RegisterImage` in moto cannot say an image is Windows (the `Platform` of an
image only comes from moto's bundled AMI catalogue, which the world does not load because it
adds ~1,300 snapshots and start-up time). An instance launched from a Windows image must report
`Platform: windows` in `DescribeInstances`, as on AWS, so after registering the image through
the API this module marks moto's record of it as Windows. Linux images need nothing: no
`Platform` means Linux/UNIX, as on AWS.
"""

from __future__ import annotations

from typing import Any

IMAGE_NAMES = {
    "linux": "al2023-ami-2023.6.20250211.0-kernel-6.1-x86_64",
    "windows": "Windows_Server-2022-English-Full-Base-2025.02.12",
}


def image_for(ec2: Any, account: str, region: str, platform: str) -> str:
    """The id of an image for `platform` in that account and region, registered on first use."""
    name = IMAGE_NAMES[platform]
    found = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])["Images"]
    if found:
        image_id: str = found[0]["ImageId"]
        return image_id
    image_id = ec2.register_image(Name=name, Architecture="x86_64", RootDeviceName="/dev/xvda"
                                  if platform == "linux" else "/dev/sda1", VirtualizationType="hvm",
                                  EnaSupport=True)["ImageId"]
    if platform == "windows":
        from moto.ec2.models import ec2_backends

        ec2_backends[account][region].amis[image_id].platform = "windows"
    return image_id
