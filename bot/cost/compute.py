"""Pricers for compute: EC2 instances, launch templates, node groups, ASGs, EBS, EKS."""

from __future__ import annotations

from typing import Any

from bot.cost.base import Bill, Context, Resource
from bot.cost.model import LineItem
from bot.cost.values import number, text

# When a block device mapping leaves these out, AWS takes them from the AMI.
# Amazon Linux 2023 (EC2 and EKS AMIs) roots are gp3; sizes below are the AMIs' own.
DEFAULT_VOLUME_TYPE = "gp3"
EC2_AMI_ROOT_GB = 8.0
EKS_NODE_DISK_GB = 20.0  # EKS managed node group DiskSize default (Linux)
EKS_DEFAULT_INSTANCE = "t3.medium"  # EKS managed node group default instance type
EKS_DEFAULT_DESIRED = 2.0
GP3_FREE_IOPS = 3000.0
GP3_FREE_THROUGHPUT = 125.0
IO2_TIER1 = 32000.0
IO2_TIER2 = 64000.0


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def ebs_volume(
    bill: Bill,
    label: str,
    vtype: str,
    size: float,
    *,
    iops: float | None,
    throughput: float | None,
    count: float = 1.0,
) -> None:
    """Add the components of `count` identical EBS volumes."""
    each = "" if count == 1 else f" x {count:g}"
    if vtype == "gp3":
        bill.monthly(f"{label} (gp3, {size:g} GB{each})", bill.price("ebs.gp3_gb"), size * count)
        extra_iops = max(0.0, (iops or GP3_FREE_IOPS) - GP3_FREE_IOPS)
        if extra_iops:
            bill.monthly(f"{label} IOPS above 3,000 ({extra_iops:g}{each})",
                         bill.price("ebs.gp3_iops"), extra_iops * count)  # fmt: skip
        extra_tp = max(0.0, (throughput or GP3_FREE_THROUGHPUT) - GP3_FREE_THROUGHPUT)
        if extra_tp:
            bill.monthly(f"{label} throughput above 125 MB/s ({extra_tp:g}{each})",
                         bill.price("ebs.gp3_throughput"), extra_tp * count)  # fmt: skip
    elif vtype in ("io1", "io2"):
        bill.monthly(f"{label} ({vtype}, {size:g} GB{each})", bill.price(f"ebs.{vtype}_gb"),
                     size * count)  # fmt: skip
        if iops is None:
            bill.note(f"{label}: {vtype} without Iops; IOPS not priced")
            return
        if vtype == "io1":
            bill.monthly(f"{label} provisioned IOPS ({iops:g}{each})", bill.price("ebs.io1_iops"),
                         iops * count)  # fmt: skip
            return
        tiers = (
            ("ebs.io2_iops", min(iops, IO2_TIER1)),
            ("ebs.io2_iops_tier2", max(0.0, min(iops, IO2_TIER2) - IO2_TIER1)),
            ("ebs.io2_iops_tier3", max(0.0, iops - IO2_TIER2)),
        )
        for key, qty in tiers:
            if qty:
                bill.monthly(f"{label} provisioned IOPS ({bill.price(key).unit}, {qty:g}{each})",
                             bill.price(key), qty * count)  # fmt: skip
    elif vtype in ("gp2", "st1", "sc1", "standard"):
        bill.monthly(f"{label} ({vtype}, {size:g} GB{each})", bill.price(f"ebs.{vtype}_gb"),
                     size * count)  # fmt: skip
    else:
        bill.note(f"{label}: volume type {vtype!r} is not in the price table; not priced")


def block_devices(bill: Bill, mappings: Any, count: float, default_size: float, who: str) -> None:
    """The EBS volumes of a block device mapping list (instances and launch templates)."""
    priced = 0
    for m in mappings if isinstance(mappings, list) else []:
        ebs = m.get("Ebs") if isinstance(m, dict) else None
        if not isinstance(ebs, dict):
            continue  # instance store or NoDevice: no EBS charge
        device = text(m.get("DeviceName")) or "volume"
        vtype = text(ebs.get("VolumeType"))
        if vtype is None:
            vtype = DEFAULT_VOLUME_TYPE
            bill.note(f"{device}: no VolumeType, assumed {DEFAULT_VOLUME_TYPE} (the AMI default)")
        size = number(ebs.get("VolumeSize"))
        if size is None:
            size = default_size
            bill.note(f"{device}: no VolumeSize, assumed the AMI's {default_size:g} GB")
        ebs_volume(bill, f"EBS {device}", vtype, size, iops=number(ebs.get("Iops")),
                   throughput=number(ebs.get("Throughput")), count=count)  # fmt: skip
        priced += 1
    if not priced:
        bill.note(f"{who}: no block device mapping; assumed one {default_size:g} GB "
                  f"{DEFAULT_VOLUME_TYPE} root volume from the AMI")  # fmt: skip
        ebs_volume(bill, "EBS root volume", DEFAULT_VOLUME_TYPE, default_size, iops=None,
                   throughput=None, count=count)  # fmt: skip


def _launch_template(r: Resource, ctx: Context, *path: str) -> Resource | None:
    for key in ("LaunchTemplateId", "LaunchTemplateName", "Id", "Name"):
        target = r.ref_target(*path, key)
        if target and ctx.siblings.get(target, None) is not None:
            lt = ctx.siblings[target]
            if lt.type == "AWS::EC2::LaunchTemplate":
                return lt
    return None


def _lt_data(lt: Resource | None, *path: str) -> Any:
    return lt.prop("LaunchTemplateData", *path) if lt else None


def _instances(bill: Bill, itype: str, count: float, label: str) -> bool:
    price = bill.ctx.table.ec2_hourly(itype)
    if price is None:
        bill.wanted.append(f"ec2:{itype}")
        return False
    each = "" if count == 1 else f" x {count:g}"
    bill.hourly(f"{label} ({itype}, Linux on-demand{each})", price, count, f"ec2:{itype}")
    return True


def price_instance(r: Resource, ctx: Context) -> LineItem:
    bill = Bill(r, ctx)
    lt = _launch_template(r, ctx, "LaunchTemplate")
    itype = r.text("InstanceType") or text(_lt_data(lt, "InstanceType"))
    if itype is None:
        return bill.not_priced("instance type not known before deploy")
    if not _instances(bill, itype, 1, "Instance"):
        return bill.not_priced(f"no price for {itype} in the price table")
    mappings = r.prop("BlockDeviceMappings") or _lt_data(lt, "BlockDeviceMappings")
    if lt is not None:
        bill.note(f"root volume from launch template {lt.logical_id}")
    block_devices(bill, mappings, 1, EC2_AMI_ROOT_GB, "instance")
    monitoring = r.prop("Monitoring") if lt is None else (
        r.prop("Monitoring") or _lt_data(lt, "Monitoring", "Enabled"))  # fmt: skip
    if _truthy(monitoring):
        bill.monthly("CloudWatch detailed monitoring", bill.price("ec2.detailed_monitoring"), 1)
    tenancy = r.text("Tenancy")
    if tenancy and tenancy != "default":
        bill.note(f"tenancy {tenancy}: priced at shared-tenancy rates (an under-estimate)")
    return bill.done()


def price_nodegroup(r: Resource, ctx: Context) -> LineItem:
    bill = Bill(r, ctx)
    lt = _launch_template(r, ctx, "LaunchTemplate")
    count = r.number("ScalingConfig", "DesiredSize")
    if count is None:
        count = r.number("ScalingConfig", "MinSize") or EKS_DEFAULT_DESIRED
        bill.note(f"desired size not known; assumed {count:g} nodes")
    else:
        bill.note(f"{count:g} nodes (ScalingConfig.DesiredSize); autoscaling may run more")
    types = r.prop("InstanceTypes")
    itype = text(types[0]) if isinstance(types, list) and types else None
    if isinstance(types, list) and len(types) > 1:
        bill.note(f"{len(types)} instance types listed; priced as {itype}, the first")
    itype = itype or text(_lt_data(lt, "InstanceType"))
    if itype is None and types is None and lt is None:
        itype = EKS_DEFAULT_INSTANCE
        bill.note(f"no instance type; EKS defaults to {EKS_DEFAULT_INSTANCE}")
    if itype is None:
        return bill.not_priced("instance type not known before deploy")
    if r.text("CapacityType") == "SPOT":
        bill.note("SPOT capacity: priced at the on-demand rate, an upper bound")
    if not _instances(bill, itype, count, "Nodes"):
        return bill.not_priced(f"no price for {itype} in the price table")
    if lt is not None:
        bill.note(f"node volumes from launch template {lt.logical_id}")
        block_devices(bill, _lt_data(lt, "BlockDeviceMappings"), count, EKS_NODE_DISK_GB, "nodes")
    else:
        size = r.number("DiskSize")
        if size is None:
            size = EKS_NODE_DISK_GB
            bill.note(f"no DiskSize; EKS defaults to {EKS_NODE_DISK_GB:g} GB")
        bill.note(f"node root volumes assumed {DEFAULT_VOLUME_TYPE}")
        ebs_volume(bill, "EBS node root volume", DEFAULT_VOLUME_TYPE, size, iops=None,
                   throughput=None, count=count)  # fmt: skip
    return bill.done()


def price_autoscaling_group(r: Resource, ctx: Context) -> LineItem:
    bill = Bill(r, ctx)
    lt = _launch_template(r, ctx, "LaunchTemplate")
    if lt is None or r.prop("MixedInstancesPolicy") is not None:
        return bill.not_priced("only a launch template in this stack is priced for a group")
    count = r.number("DesiredCapacity")
    if count is None:
        count = r.number("MinSize") or 0.0
        bill.note(f"no DesiredCapacity; assumed MinSize = {count:g}")
    itype = text(_lt_data(lt, "InstanceType"))
    if itype is None:
        return bill.not_priced("instance type not known before deploy")
    if not _instances(bill, itype, count, "Instances"):
        return bill.not_priced(f"no price for {itype} in the price table")
    block_devices(bill, _lt_data(lt, "BlockDeviceMappings"), count, EC2_AMI_ROOT_GB, "instances")
    return bill.done()


def price_launch_template(r: Resource, ctx: Context) -> LineItem:
    users = [
        s.logical_id
        for s in ctx.siblings.values()
        if s.type in LAUNCH_TEMPLATE_USERS and _uses(s, ctx, r.logical_id)
    ]
    bill = Bill(r, ctx)
    if users:
        return bill.free(f"no charge of its own; its instances and volumes are priced on "
                         f"{', '.join(sorted(users))}")  # fmt: skip
    return bill.free("no charge of its own; nothing in this stack launches from it")


def _uses(user: Resource, ctx: Context, template_id: str) -> bool:
    lt = _launch_template(user, ctx, "LaunchTemplate")
    return lt is not None and lt.logical_id == template_id


LAUNCH_TEMPLATE_USERS = (
    "AWS::EC2::Instance",
    "AWS::EKS::Nodegroup",
    "AWS::AutoScaling::AutoScalingGroup",
)


def price_volume(r: Resource, ctx: Context) -> LineItem:
    bill = Bill(r, ctx)
    size = r.number("Size")
    if size is None:
        return bill.not_priced("size not known before deploy (Size unset or from a snapshot)")
    vtype = r.text("VolumeType") or "gp2"
    if r.text("VolumeType") is None:
        bill.note("no VolumeType: CloudFormation creates gp2")
    ebs_volume(bill, "EBS volume", vtype, size, iops=r.number("Iops"),
               throughput=r.number("Throughput"))  # fmt: skip
    return bill.done()


def price_eks_cluster(r: Resource, ctx: Context) -> LineItem:
    bill = Bill(r, ctx)
    version = r.text("Version")
    support = r.text("UpgradePolicy", "SupportType") or "EXTENDED"
    std, ext = bill.price("eks.standard_hour"), bill.price("eks.extended_hour")
    if version is None:
        bill.note("Kubernetes version not set: EKS picks its default, in standard support")
        bill.hourly("EKS cluster (standard support)", std)
        return bill.done()
    window = ctx.table.eks_support(version, ctx.on)
    source = f"EKS version calendar ({ctx.table.eks_source})"
    if window.status == "unknown":
        bill.note(f"Kubernetes {version} is not in the EKS version table; assumed standard support")
        bill.hourly(f"EKS cluster {version} (standard support)", std)
    elif window.status == "standard":
        bill.note(f"Kubernetes {version} is in standard support until {window.end_of_standard} "
                  f"per the {source}")  # fmt: skip
        bill.hourly(f"EKS cluster {version} (standard support)", std)
    elif support == "STANDARD":
        bill.note(f"Kubernetes {version} left standard support on {window.end_of_standard}; "
                  "UpgradePolicy STANDARD makes EKS upgrade it instead of charging extended "
                  "support")  # fmt: skip
        bill.hourly(f"EKS cluster {version} (standard support after auto-upgrade)", std)
    elif window.status == "extended":
        bill.note(
            f"Kubernetes {version} left standard support on {window.end_of_standard}; "
            f"extended support (UpgradePolicy {support}) until {window.end_of_extended}"
        )
        bill.hourly(f"EKS cluster {version} (extended support)", ext)
    else:
        bill.note(
            f"Kubernetes {version} reached end of extended support on "
            f"{window.end_of_extended}; EKS auto-upgrades it (priced at standard)"
        )
        bill.hourly(f"EKS cluster {version} (standard support after auto-upgrade)", std)
    return bill.done()
