# A group of instances of one role: IMDSv2 only, encrypted volumes, detailed monitoring, an
# instance profile that may use SSM Session Manager and nothing else, and an optional
# data volume; volumes are encrypted with the group's own KMS key.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

# The volumes of this group are encrypted with a key of their own (rotated yearly).
resource "aws_kms_key" "volumes" {
  description             = "${var.name} EBS volumes"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role" "this" {
  name = "${var.name}-instance"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "this" {
  name = "${var.name}-instance"
  role = aws_iam_role.this.name
  tags = var.tags
}

resource "aws_instance" "this" {
  count                  = var.instance_count
  ami                    = var.ami_id
  instance_type          = var.instance_type
  subnet_id              = var.subnet_ids[count.index % length(var.subnet_ids)]
  vpc_security_group_ids = var.security_group_ids
  key_name               = var.key_name
  iam_instance_profile   = aws_iam_instance_profile.this.name
  user_data              = var.user_data
  source_dest_check      = var.source_dest_check
  monitoring             = true
  ebs_optimized          = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size
    encrypted             = true
    kms_key_id            = aws_kms_key.volumes.arn
    delete_on_termination = true
  }

  tags        = merge(var.tags, { Name = "${var.name}-${count.index + 1}", Role = var.role })
  volume_tags = merge(var.tags, { Name = "${var.name}-${count.index + 1}", Role = var.role })

  lifecycle {
    ignore_changes = [ami]
  }
}

resource "aws_ebs_volume" "data" {
  count             = var.data_volume_size > 0 ? var.instance_count : 0
  availability_zone = aws_instance.this[count.index].availability_zone
  size              = var.data_volume_size
  type              = "gp3"
  encrypted         = true
  kms_key_id        = aws_kms_key.volumes.arn
  tags              = merge(var.tags, { Name = "${var.name}-${count.index + 1}-data", Role = var.role })
}

resource "aws_volume_attachment" "data" {
  count       = var.data_volume_size > 0 ? var.instance_count : 0
  device_name = var.data_volume_device
  volume_id   = aws_ebs_volume.data[count.index].id
  instance_id = aws_instance.this[count.index].id
}
