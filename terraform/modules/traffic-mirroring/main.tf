# AWS VPC Traffic Mirroring: each sensor's interface is a mirror target; each source
# interface gets a session to one target, sharing one filter. The sensors receive the
# packets as VXLAN on UDP 4789 (the security-groups module admits it).

resource "aws_ec2_traffic_mirror_target" "sensor" {
  count                = length(var.target_network_interface_ids)
  network_interface_id = var.target_network_interface_ids[count.index]
  description          = "${var.name} sensor ${count.index + 1}"
  tags                 = merge(var.tags, { Name = "${var.name}-sensor-${count.index + 1}" })
}

resource "aws_ec2_traffic_mirror_filter" "this" {
  description = "${var.name}: what the sensors receive"
  tags        = merge(var.tags, { Name = var.name })
}

# Never mirror the mirror: the VXLAN from a source that is itself a sensor would loop.
resource "aws_ec2_traffic_mirror_filter_rule" "reject_vxlan" {
  for_each                 = toset(["ingress", "egress"])
  description              = "Do not mirror VXLAN (the mirror's own traffic)"
  traffic_mirror_filter_id = aws_ec2_traffic_mirror_filter.this.id
  traffic_direction        = each.key
  rule_number              = 10
  rule_action              = "reject"
  protocol                 = 17
  source_cidr_block        = "0.0.0.0/0"
  destination_cidr_block   = "0.0.0.0/0"
  destination_port_range {
    from_port = 4789
    to_port   = 4789
  }
}

resource "aws_ec2_traffic_mirror_filter_rule" "accept" {
  for_each                 = { for rule in var.filter_rules : "${rule.direction}-${rule.rule_number}" => rule }
  description              = "Mirror ${each.value.direction} ${each.value.source_cidr_block} -> ${each.value.destination_cidr_block}"
  traffic_mirror_filter_id = aws_ec2_traffic_mirror_filter.this.id
  traffic_direction        = each.value.direction
  rule_number              = each.value.rule_number
  rule_action              = "accept"
  protocol                 = each.value.protocol
  source_cidr_block        = each.value.source_cidr_block
  destination_cidr_block   = each.value.destination_cidr_block
}

resource "aws_ec2_traffic_mirror_session" "this" {
  count                    = length(var.source_network_interface_ids)
  description              = "${var.name} source ${count.index + 1}"
  network_interface_id     = var.source_network_interface_ids[count.index]
  traffic_mirror_target_id = aws_ec2_traffic_mirror_target.sensor[count.index % length(aws_ec2_traffic_mirror_target.sensor)].id
  traffic_mirror_filter_id = aws_ec2_traffic_mirror_filter.this.id
  session_number           = 1
  virtual_network_id       = var.virtual_network_id
  packet_length            = var.packet_length
  tags                     = merge(var.tags, { Name = "${var.name}-source-${count.index + 1}" })
}
