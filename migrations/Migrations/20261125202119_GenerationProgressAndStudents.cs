using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Studio.Migrations.Migrations
{
    /// <inheritdoc />
    public partial class GenerationProgressAndStudents : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "Activity",
                table: "Generations",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<double>(
                name: "Progress",
                table: "Generations",
                type: "REAL",
                nullable: false,
                defaultValue: 0.0);

            migrationBuilder.AddColumn<double>(
                name: "DifferenceToTeacher",
                table: "GenerationImages",
                type: "REAL",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "ModelId",
                table: "GenerationImages",
                type: "INTEGER",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "Activity",
                table: "Generations");

            migrationBuilder.DropColumn(
                name: "Progress",
                table: "Generations");

            migrationBuilder.DropColumn(
                name: "DifferenceToTeacher",
                table: "GenerationImages");

            migrationBuilder.DropColumn(
                name: "ModelId",
                table: "GenerationImages");
        }
    }
}
