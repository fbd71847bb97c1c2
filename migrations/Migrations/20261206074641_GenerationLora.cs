using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Studio.Migrations.Migrations
{
    /// <inheritdoc />
    public partial class GenerationLora : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "LoraPath",
                table: "Generations",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<double>(
                name: "LoraScale",
                table: "Generations",
                type: "REAL",
                nullable: false,
                defaultValue: 1.0);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "LoraPath",
                table: "Generations");

            migrationBuilder.DropColumn(
                name: "LoraScale",
                table: "Generations");
        }
    }
}
