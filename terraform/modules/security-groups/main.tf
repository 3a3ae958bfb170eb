# One security group per role. Elasticsearch admits only the cluster itself, Kibana, Logstash
# and the sensors (the classic setup that opened 9200 to 0.0.0.0/0 is exactly what this
# avoids); Kafka admits the sensors and Logstash; the sensors admit only the mirrored VXLAN
# and the metrics scrapers. Outbound: anywhere in the VPC, and HTTP(S) to the Internet
# through the NAT gateways for packages.

locals {
  roles = ["elasticsearch", "kibana", "logstash", "kafka", "sensor"]

  # ingress rules between groups: role => list of { from role, port, description }
  peer_rules = [
    { to = "elasticsearch", from = "elasticsearch", port = 9300, description = "Elasticsearch transport between nodes" },
    { to = "elasticsearch", from = "elasticsearch", port = 9200, description = "Elasticsearch HTTP between nodes" },
    { to = "elasticsearch", from = "kibana", port = 9200, description = "Elasticsearch HTTP from Kibana" },
    { to = "elasticsearch", from = "logstash", port = 9200, description = "Elasticsearch HTTP from Logstash" },
    { to = "elasticsearch", from = "sensor", port = 9200, description = "Elasticsearch HTTP from the sensors" },
    { to = "kafka", from = "kafka", port = 9093, description = "Kafka TLS listener between brokers" },
    { to = "kafka", from = "kafka", port = 9094, description = "Kafka KRaft controller quorum" },
    { to = "kafka", from = "sensor", port = 9093, description = "Kafka TLS listener from the sensors" },
    { to = "kafka", from = "logstash", port = 9093, description = "Kafka TLS listener from Logstash" },
    { to = "logstash", from = "sensor", port = 5044, description = "Beats input from the sensors' Filebeat" },
  ]

  cidr_rules = concat(
    [for role in local.roles : { to = role, cidrs = var.admin_cidrs, protocol = "tcp", port = 22, description = "SSH from the operators" }],
    [{ to = "kibana", cidrs = var.admin_cidrs, protocol = "tcp", port = 5601, description = "Kibana from the operators" }],
    [{ to = "sensor", cidrs = var.mirror_source_cidrs, protocol = "udp", port = 4789, description = "VXLAN from traffic mirroring" }],
    length(var.monitoring_cidrs) > 0 ? [{ to = "sensor", cidrs = var.monitoring_cidrs, protocol = "tcp", port = 9102, description = "netsensor metrics from Prometheus" }] : [],
  )

  cidr_rule_map = merge([
    for rule in local.cidr_rules : {
      for cidr in rule.cidrs : "${rule.to}-${rule.protocol}-${rule.port}-${cidr}" => merge(rule, { cidr = cidr })
    }
  ]...)
}

resource "aws_security_group" "this" {
  for_each    = toset(local.roles)
  name        = "${var.name}-${each.key}"
  description = "${var.name} ${each.key}: only the ports its peers need"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-${each.key}", Role = each.key })
}

resource "aws_vpc_security_group_ingress_rule" "peer" {
  for_each                     = { for rule in local.peer_rules : "${rule.to}-${rule.port}-from-${rule.from}" => rule }
  security_group_id            = aws_security_group.this[each.value.to].id
  referenced_security_group_id = aws_security_group.this[each.value.from].id
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  description                  = each.value.description
}

resource "aws_vpc_security_group_ingress_rule" "cidr" {
  for_each          = local.cidr_rule_map
  security_group_id = aws_security_group.this[each.value.to].id
  cidr_ipv4         = each.value.cidr
  ip_protocol       = each.value.protocol
  from_port         = each.value.port
  to_port           = each.value.port
  description       = each.value.description
}

resource "aws_vpc_security_group_egress_rule" "vpc" {
  for_each          = toset(local.roles)
  security_group_id = aws_security_group.this[each.key].id
  cidr_ipv4         = var.vpc_cidr
  ip_protocol       = "-1"
  description       = "Outbound inside the VPC"
}

resource "aws_vpc_security_group_egress_rule" "https" {
  for_each          = toset(local.roles)
  security_group_id = aws_security_group.this[each.key].id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  description       = "HTTPS to package repositories through NAT"
}

resource "aws_vpc_security_group_egress_rule" "http" {
  for_each          = toset(local.roles)
  security_group_id = aws_security_group.this[each.key].id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  description       = "HTTP to Debian mirrors through NAT (packages are signed)"
}
