"""catuvac.training"""
